/**
 * The request handler: method, request-target, route, then the object store. Each request is
 * classified first (internal endpoint, player asset, content) and handled second.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { resolveRequestPath } from '../http/url-path.js';
import { ALLOWED_METHODS, type CorsPolicy } from '../http/cors.js';
import { contentKindFor } from '../http/content-type.js';
import type { FileStore, Mount, Outcome } from '../store/folder.js';
import type { Metrics } from '../observe/metrics.js';
import type { Representation } from './representation.js';
import { respond, type RespondContext } from './respond.js';
import { sendError, type ErrorName } from './errors.js';

/** The answer to each way the store can refuse a file. */
const REFUSALS: Record<Exclude<Outcome<Representation>['kind'], 'found'>, ErrorName> = {
  missing: 'notFound',
  corrupt: 'integrity',
  forbidden: 'forbidden',
  failed: 'internal',
};

export interface ContentMount extends Mount {
  readonly root: string;
}

export interface EndpointResult {
  readonly status: number;
  readonly contentType: string;
  readonly body: string | Buffer;
}

/** segd's own endpoints (/metrics, /healthz, ...): small bodies, never cached by clients. */
export type InternalEndpoint = () => EndpointResult | Promise<EndpointResult>;

export interface HandlerContext extends RespondContext {
  readonly store: FileStore<Representation>;
  readonly metrics: Metrics;
  readonly cors: CorsPolicy;
  readonly maxUrlLength: number;
  /** The content folder; undefined for an edge (`edge` below). */
  readonly content: ContentMount | undefined;
  /** Prefix mounts such as the player page: first match wins, checked before content. */
  readonly mounts: readonly { readonly prefix: string; readonly mount: ContentMount; readonly index?: string }[];
  readonly endpoints: ReadonlyMap<string, InternalEndpoint>;
  readonly log: ((msg: string, err?: unknown) => void) | undefined;
  /** Where `/` redirects (the player page), if anywhere. */
  readonly home: string | undefined;
  /** Content from an origin (an edge): replaces the folder `content` when set. */
  readonly edge?: ((req: IncomingMessage, res: ServerResponse, path: string, query: string) => Promise<void>) | undefined;
}

export function createHandler(ctx: HandlerContext): (req: IncomingMessage, res: ServerResponse) => void {
  const staticCors = ctx.cors.staticHeaders();
  const corsOf = (req: IncomingMessage): readonly string[] => (ctx.corsFor === undefined ? staticCors : [...staticCors, ...ctx.corsFor(req)]);
  const fail = (req: IncomingMessage, res: ServerResponse, name: ErrorName, extra?: readonly string[]): void => {
    ctx.metrics.request(sendError(res, name, corsOf(req), extra), 'internal');
  };

  const answer = (req: IncomingMessage, res: ServerResponse, outcome: Outcome<Representation>, file: string): void | Promise<void> => {
    if (outcome.kind === 'found') return respond(req, res, outcome.entry, ctx);
    ctx.metrics.request(sendError(res, REFUSALS[outcome.kind], corsOf(req)), contentKindFor(file));
  };

  const serveFile = (req: IncomingMessage, res: ServerResponse, mount: ContentMount, rel: string): void | Promise<void> => {
    // rel is already normalised (no dot or empty segments), so plain concatenation is exact.
    const file = rel === '' ? mount.root : `${mount.root}/${rel}`;
    const hot = ctx.store.hot(file);
    if (hot !== undefined) return respond(req, res, hot, ctx);
    return ctx.store.fetch(file, mount).then(
      (outcome) => answer(req, res, outcome, file),
      (err: unknown) => {
        ctx.log?.(`serving ${file} failed`, err);
        fail(req, res, 'internal');
      },
    );
  };

  return (req, res) => {
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
            res.writeHead(r.status, ['Content-Type', r.contentType, 'Content-Length', String(body.length), 'Cache-Control', 'no-store', ...corsOf(req)]);
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
          return void serveFile(req, res, m.mount, m.index);
        }
        if (dirPath) return fail(req, res, 'notFound');
        return void serveFile(req, res, m.mount, rest);
      }
    }
    if (path === '') return ctx.home === undefined ? fail(req, res, 'notFound') : redirect(res, ctx.home);
    if (dirPath) return fail(req, res, 'notFound');
    if (ctx.edge !== undefined) {
      const q = url.indexOf('?');
      ctx.edge(req, res, path, q < 0 ? '' : url.slice(q + 1)).catch((err: unknown) => {
        ctx.log?.(`serving ${path} failed`, err);
        fail(req, res, 'internal');
      });
      return;
    }
    if (ctx.content === undefined) return fail(req, res, 'notFound');
    void serveFile(req, res, ctx.content, path);
  };

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
