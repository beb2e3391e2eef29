/**
 * The request path for content when segd is an edge (--origin): the cache key, the edge store's
 * answer, and the response: a cached object through respond.ts, a fill through fill-respond.ts,
 * a refusal through the error table. Every answer says how it was served (Cache-Status).
 *
 * A worker of a group (src/store/disk/shared.ts) answers only what it finds fresh on the shared
 * disk and forwards the rest to the group's filler (forward.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { cacheKey } from '../http/cache-key.js';
import { cacheStatus, type CacheStatus } from '../http/cache-status.js';
import { ageHeader } from '../http/freshness.js';
import { cacheControlFor, type CachePolicy } from '../http/cache-control.js';
import { contentKindFor, contentTypeFor, edgeKindFor, type ContentKind } from '../http/content-type.js';
import { COPY_LIMIT } from '../store/objects.js';
import type { EdgeAnswer, EdgeStore } from '../store/edge/edge.js';
import type { Fill, FillHead } from '../store/edge/fill.js';
import type { Representation } from './representation.js';
import { respond, type RespondContext } from './respond.js';
import { respondFromFill } from './fill-respond.js';
import { sendError, type ErrorName } from './errors.js';
import type { Forward } from './forward.js';

export interface EdgeServeContext extends RespondContext {
  readonly edge: EdgeStore<Representation>;
  readonly cachePolicy: CachePolicy;
  /** Query parameters kept out of the cache key besides CMCD (lower case). */
  readonly stripParams: ReadonlySet<string>;
  /** CORS headers for this request (static and per-request). */
  corsOf(req: IncomingMessage): readonly string[];
  /** In a worker of a group: where what is not fresh in the cache goes. */
  readonly forward?: Forward | undefined;
}

const REFUSALS: Record<number, ErrorName> = { 404: 'notFound', 410: 'gone', 502: 'badGateway', 504: 'gatewayTimeout' };

export function edgeContent(ctx: EdgeServeContext): (req: IncomingMessage, res: ServerResponse, path: string, query: string) => void | Promise<void> {
  return (req, res, path, query) => {
    const k = cacheKey(path, query, ctx.stripParams);
    if (ctx.forward !== undefined) return fromShared(req, res, path, k.key, ctx.forward);
    const a = ctx.edge.lookup(k.key, path, k.originQuery);
    // A hit in memory comes back at once and is answered in this turn, without a promise.
    return a instanceof Promise ? a.then((x) => answer(req, res, x, path, k.key)) : answer(req, res, a, path, k.key);
  };

  async function fromShared(req: IncomingMessage, res: ServerResponse, path: string, key: string, forward: Forward): Promise<void> {
    const e = await ctx.edge.cached(key, path);
    return e === undefined ? forward(req, res, contentKindFor(path)) : answer(req, res, { kind: 'entry', entry: e, status: { hit: true } }, path, key);
  }

  function answer(req: IncomingMessage, res: ServerResponse, a: EdgeAnswer<Representation>, path: string, key: string): void | Promise<void> {
    switch (a.kind) {
      case 'entry':
        return respond(req, res, a.entry, ctx, ['Cache-Status', cacheStatus(a.status), 'Age', ageHeader(a.entry.fresh, Date.now())]);
      case 'refused': {
        const status = sendError(res, REFUSALS[a.status] ?? 'badGateway', ctx.corsOf(req), ['Cache-Status', cacheStatus(a.cacheStatus)]);
        ctx.metrics.request(status, contentKindFor(path));
        return;
      }
      case 'fill':
        return answerFill(req, res, a, path, key);
    }
  }

  async function answerFill(req: IncomingMessage, res: ServerResponse, a: EdgeAnswer<Representation> & { kind: 'fill' }, path: string, key: string): Promise<void> {
    const { fill, head } = a;
    const kind = contentKindFor(path);
    // Playlists and small objects are answered whole, once checked and stored: they take one
    // round trip to arrive, and a playlist's caching policy and compression need all of it.
    const small = head.status === 200 && (kind === 'playlist' || (head.length !== undefined && head.length <= COPY_LIMIT));
    // Attached while it waits, so the fill keeps every byte readable for the answer from it
    // below, should the stored copy be gone by then.
    const waiter = small ? fill.attach(0) : undefined;
    try {
      if (small && (await fill.done).kind === 'committed') {
        const stored = await ctx.edge.justStored(key, path);
        if (stored !== undefined) return await respond(req, res, stored, ctx, ['Cache-Status', cacheStatus(a.status), 'Age', ageHeader(stored.fresh, Date.now())]);
      }
      return await answerFromFill(req, res, fill, head, kind, a.status, path);
    } finally {
      waiter?.leave();
    }
  }

  /** The answer from a fill in progress (or just ended), as its bytes arrive. */
  function answerFromFill(req: IncomingMessage, res: ServerResponse, fill: Fill, head: FillHead, kind: ContentKind, status: CacheStatus, path: string): Promise<void> {
    const fresh = ctx.edge.headFreshness(head, path);
    return respondFromFill(
      req,
      res,
      {
        fill,
        head,
        kind,
        contentType: contentTypeFor(path),
        // An error page passed through must not be cached downstream by segd's say-so.
        cacheControl: head.status === 200 ? cacheControlFor(edgeKindFor(path, head.headers['content-type']), undefined, ctx.cachePolicy) : 'no-store',
        extra: [...ctx.corsOf(req), 'Cache-Status', cacheStatus(status), 'Age', ageHeader(fresh, Date.now())],
        rangeAhead: (start, end) => ctx.edge.rangeAhead(fill, head, start, end),
      },
      ctx.metrics,
    );
  }
}
