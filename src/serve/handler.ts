/**
 * The request handler: method, request-target, route, then the object store. Each request is
 * classified first (internal endpoint, player asset, content) and handled second.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { resolveRequestPath } from '../http/url-path.js';
import { ALLOWED_METHODS, type CorsPolicy } from '../http/cors.js';
import type { Metrics } from '../observe/metrics.js';
import { sendError, type ErrorName } from './errors.js';
import type { ContentMount } from './folder.js';

export interface EndpointResult {
  readonly status: number;
  readonly contentType: string;
  readonly body: string | Buffer;
}

/** segd's own endpoints (/metrics, /healthz, ...): small bodies, never cached by clients. */
export type InternalEndpoint = () => EndpointResult | Promise<EndpointResult>;

type Serve<A extends unknown[]> = (req: IncomingMessage, res: ServerResponse, ...args: A) => void | Promise<void>;

export interface HandlerContext {
  readonly metrics: Metrics;
  readonly cors: CorsPolicy;
  corsOf(req: IncomingMessage): readonly string[];
  readonly maxUrlLength: number;
  /** A file of a folder (serve/folder.ts). */
  readonly serveFile: Serve<[mount: ContentMount, rel: string]>;
  /** The content folder; undefined for an edge (`edge` below). */
  readonly content: ContentMount | undefined;
  /** Prefix mounts such as the player page: first match wins, checked before content. */
  readonly mounts: readonly { readonly prefix: string; readonly mount: ContentMount; readonly index?: string }[];
  readonly endpoints: ReadonlyMap<string, InternalEndpoint>;
  readonly log: ((msg: string, err?: unknown) => void) | undefined;
  /** Where `/` redirects (the player page), if anywhere. */
  readonly home: string | undefined;
  /** Content from an origin (an edge, serve/edge.ts): replaces the folder `content` when set. */
  readonly edge?: Serve<[path: string, query: string]> | undefined;
}

export function createHandler(ctx: HandlerContext): (req: IncomingMessage, res: ServerResponse) => void {
  const staticCors = ctx.cors.staticHeaders();
  const fail = (req: IncomingMessage, res: ServerResponse, name: ErrorName, extra?: readonly string[]): void => {
    ctx.metrics.request(sendError(res, name, ctx.corsOf(req), extra), 'internal');
  };
  /** A throw or a rejection while answering is a bug: logged, and a 500 if nothing was sent yet. */
  const failed = (req: IncomingMessage, res: ServerResponse, what: string, err: unknown): void => {
    ctx.log?.(`serving ${what} failed`, err);
    fail(req, res, 'internal');
  };
  /** Runs a content answer, whose rejection is such a bug. */
  const guard = (req: IncomingMessage, res: ServerResponse, what: string, answer: void | Promise<void>): void => {
    if (answer === undefined) return;
    answer.catch((err: unknown) => failed(req, res, what, err));
  };

  // Never an uncaught exception either (a hit is answered synchronously, in the request's turn).
  return (req, res) => {
    try {
      route(req, res);
    } catch (err) {
      failed(req, res, req.url ?? '/', err);
    }
  };

  function route(req: IncomingMessage, res: ServerResponse): void {
    const method = req.method;
    if (method !== 'GET' && method !== 'HEAD') {
      if (method === 'OPTIONS') return preflight(req, res);
      return fail(req, res, 'methodNotAllowed', ['Allow', ALLOWED_METHODS]);
    }
    const url = req.url ?? '/';
    const target = resolveRequestPath(url, ctx.maxUrlLength);
    switch (target.kind) {
      case 'too-long':
        return fail(req, res, 'uriTooLong');
      case 'bad-request':
        return fail(req, res, 'badRequest');
      case 'hidden':
        return fail(req, res, 'notFound');
    }
    const path = target.path;
    // segd serves files, never directories: `/ts/master.m3u8/` names nothing (as in nginx).
    // Only a mount's index answers a trailing slash.
    const dirPath = target.trailingSlash && path !== '';
    const endpoint = ctx.endpoints.get(path);
    if (endpoint !== undefined) {
      void Promise.resolve()
        .then(endpoint)
        .then(
          (r) => {
            const body = typeof r.body === 'string' ? Buffer.from(r.body) : r.body;
            res.writeHead(r.status, ['Content-Type', r.contentType, 'Content-Length', String(body.length), 'Cache-Control', 'no-store', ...ctx.corsOf(req)]);
            res.end(method === 'HEAD' ? undefined : body);
            ctx.metrics.request(r.status, 'internal');
          },
          (err: unknown) => {
            ctx.log?.(`endpoint /${path} failed`, err);
            fail(req, res, 'internal');
          },
        );
      return;
    }
    for (const m of ctx.mounts) {
      if (path === m.prefix || path.startsWith(m.prefix + '/')) {
        const rest = path.slice(m.prefix.length + 1);
        if (rest === '' && m.index !== undefined) {
          if (!dirPath) return redirect(res, `/${m.prefix}/`);
          return guard(req, res, path, ctx.serveFile(req, res, m.mount, m.index));
        }
        if (dirPath) return fail(req, res, 'notFound');
        return guard(req, res, path, ctx.serveFile(req, res, m.mount, rest));
      }
    }
    if (path === '') return ctx.home === undefined ? fail(req, res, 'notFound') : redirect(res, ctx.home);
    if (dirPath) return fail(req, res, 'notFound');
    if (ctx.edge !== undefined) {
      const q = url.indexOf('?');
      return guard(req, res, path, ctx.edge(req, res, path, q < 0 ? '' : url.slice(q + 1)));
    }
    if (ctx.content === undefined) return fail(req, res, 'notFound');
    guard(req, res, path, ctx.serveFile(req, res, ctx.content, path));
  }

  function preflight(req: IncomingMessage, res: ServerResponse): void {
    const headers = ctx.cors.preflightHeaders(req.headers.origin) ?? [];
    res.writeHead(204, ['Allow', ALLOWED_METHODS, ...headers]);
    res.end();
    ctx.metrics.request(204, 'internal');
  }

  function redirect(res: ServerResponse, location: string): void {
    res.writeHead(302, ['Location', location, 'Content-Length', '0', ...staticCors]);
    res.end();
    ctx.metrics.request(302, 'internal');
  }
}
