/**
 * A worker's way to its group's filler (src/store/disk/shared.ts): what the worker cannot answer
 * fresh from the shared disk goes to the filler as the client sent it, and the filler's answer
 * comes back as it arrives. The filler is a whole segd edge, so collapsing, revalidation, stale
 * answers, ranges, conditionals, compression and Cache-Status are all its own, unchanged here.
 * The body streams with backpressure (a slow client slows only its own forward), and a client
 * that leaves aborts the forward; the filler's fill goes on without it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Pool } from 'undici';
import type { Metrics } from '../observe/metrics.js';
import type { ContentKind } from '../http/content-type.js';
import { cut, drained, gone } from './drained.js';
import { sendError } from './errors.js';

/** Connection-specific headers (RFC 9110 §7.6.1), HTTP/2 pseudo-headers aside: never passed on. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host', 'http2-settings']);
/** The filler answers within its own origin timeouts; this only bounds a filler that hangs. */
const FILLER_TIMEOUT_MS = 120_000;

export type Forward = (req: IncomingMessage, res: ServerResponse, kind: ContentKind) => Promise<void>;

export function forwarder(filler: string, o: { metrics: Metrics; corsOf: (req: IncomingMessage) => readonly string[] }): { forward: Forward; close(): Promise<void> } {
  const pool = new Pool(filler, { connections: 256, headersTimeout: FILLER_TIMEOUT_MS, bodyTimeout: FILLER_TIMEOUT_MS, keepAliveTimeout: 30_000 });

  const forward: Forward = async (req, res, kind) => {
    const abort = new AbortController();
    const onClose = (): void => abort.abort();
    res.once('close', onClose);
    let r;
    try {
      r = await pool.request({ path: req.url ?? '/', method: req.method === 'HEAD' ? 'HEAD' : 'GET', headers: endToEnd(req.headers), signal: abort.signal });
    } catch {
      res.off('close', onClose);
      if (gone(res)) return;
      o.metrics.request(sendError(res, 'badGateway', o.corsOf(req), ['Cache-Status', 'segd; fwd=miss; detail=filler-unreachable']), kind);
      return;
    }
    o.metrics.request(r.statusCode, kind);
    res.writeHead(r.statusCode, endToEnd(r.headers));
    try {
      for await (const chunk of r.body as AsyncIterable<Buffer>) {
        if (gone(res)) return;
        o.metrics.body(kind, chunk.length);
        if (!res.write(chunk)) await drained(res);
      }
      res.end();
    } catch {
      cut(res); // the filler cut its answer short: so does this one
    } finally {
      res.off('close', onClose);
      if (!r.body.destroyed) r.body.destroy();
    }
  };
  return { forward, close: () => pool.close() };
}

function endToEnd(headers: Readonly<Record<string, string | string[] | undefined>>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, v] of Object.entries(headers)) if (v !== undefined && !name.startsWith(':') && !HOP_BY_HOP.has(name)) out[name] = v;
  return out;
}
