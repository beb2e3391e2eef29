/**
 * A Node origin for fault injection: serves objects from memory (with Range and If-Range, ETags
 * and Last-Modified like a real origin), and misbehaves on demand per path: delays, a paced or
 * drip-fed body, a body shorter or longer than its Content-Length, a reset midway, redirect
 * loops, errors, a 200 to a range request. It logs every request it gets.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import type { AddressInfo, Socket } from 'node:net';

export interface Behaviour {
  /** Delay before the status line, ms. */
  readonly delayMs?: number;
  /** Send the body in chunks of this size, `chunkDelayMs` apart. */
  readonly chunk?: number;
  readonly chunkDelayMs?: number;
  /** Status to answer instead of the object (5xx, 403...); a function gets the request number (1-based). */
  readonly status?: number | ((n: number) => number | undefined);
  /** The body of that answer: this many bytes instead of a short line. */
  readonly statusBodyBytes?: number;
  /** Send this many bytes of the body, then destroy the socket (a reset midway); only for whole-body requests. */
  readonly resetAfter?: number;
  /**
   * Awaited before each reset with the body bytes sent for this path so far, to hold the reset
   * until the client has taken them: an HTTP client drops what it buffered but had not handed
   * on when the socket closes, so without it how far a client got depends on the load.
   */
  readonly holdReset?: (sent: number) => Promise<unknown>;
  /** Resets only the first `resetTimes` whole-body requests (default all). */
  readonly resetTimes?: number;
  /** No Content-Length (a chunked body of unknown length); the headers go at once. */
  readonly noLength?: boolean;
  /** Resets range answers too, each after `resetAfter` bytes of its own (an origin that breaks every resume). */
  readonly resetRanges?: boolean;
  /** Declare this Content-Length while sending the real body (shorter or longer). */
  readonly lieLength?: number;
  /** Send one byte, then nothing (a drip that never finishes). */
  readonly stall?: boolean;
  /** Hold the answer to a conditional request (If-None-Match) until this settles. */
  readonly holdRevalidation?: Promise<void>;
  /** After `gateAfter` bytes, wait for `gate` before sending the rest. */
  readonly gate?: Promise<void>;
  readonly gateAfter?: number;
  /** Redirect to this path (itself: a loop). */
  readonly redirect?: string;
  /** Declare this Content-Range on a 206 instead of the true one (the body stays what was asked). */
  readonly lieContentRange?: string;
  /** Ignore Range headers (answer 200 with the whole body). */
  readonly ignoreRange?: boolean;
  /** Extra response headers (also on a `status` answer). */
  readonly headers?: Readonly<Record<string, string>>;
  /** No ETag / Last-Modified (nothing to pin a resume to). */
  readonly noValidators?: boolean;
}

export interface LoggedRequest {
  readonly path: string;
  /** The request target as sent, query included. */
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly at: number;
}

export interface FaultOrigin {
  readonly url: string;
  readonly log: LoggedRequest[];
  put(path: string, body: Buffer, behaviour?: Behaviour): void;
  behave(path: string, behaviour: Behaviour): void;
  count(path: string): number;
  /** When the last body byte for `path` was written, ms (performance.now()), per response. */
  readonly finishedAt: Map<string, number[]>;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** Every object's Last-Modified. */
export const LAST_MODIFIED = new Date(Date.now() - 3_600_000).toUTCString();

export async function startFaultOrigin(): Promise<FaultOrigin> {
  const o = faultOrigin();
  await o.start();
  return o;
}

/** A fault origin not listening yet: `start()` it (its `url` is known from then on). */
export function faultOrigin(): FaultOrigin {
  const objects = new Map<string, { body: Buffer; b: Behaviour; etag: string }>();
  const log: LoggedRequest[] = [];
  const finishedAt = new Map<string, number[]>();
  const counts = new Map<string, number>();
  const sent = new Map<string, number>();
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    log.push({ path, url: req.url ?? '/', headers: req.headers, at: performance.now() });
    const n = (counts.get(path) ?? 0) + 1;
    counts.set(path, n);
    const o = objects.get(path);
    if (o === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    const b = o.b;
    if (b.delayMs) await sleep(b.delayMs);
    const status = typeof b.status === 'function' ? b.status(n) : b.status;
    if (status !== undefined) {
      const text = b.statusBodyBytes === undefined ? Buffer.from(`status ${status}\n`) : Buffer.alloc(b.statusBodyBytes, 'x');
      res.writeHead(status, { 'content-type': 'text/plain', 'content-length': String(text.length), ...b.headers }).end(text);
      return;
    }
    if (b.redirect !== undefined) {
      res.writeHead(302, { location: b.redirect, 'content-length': '0' }).end();
      return;
    }
    const validators: Record<string, string> = b.noValidators ? {} : { etag: o.etag, 'last-modified': LAST_MODIFIED };
    if (req.headers['if-none-match'] !== undefined) await b.holdRevalidation;
    if (!b.noValidators && req.headers['if-none-match'] === o.etag) {
      res.writeHead(304, { ...validators, ...b.headers }).end();
      return;
    }
    let start = 0;
    let end = o.body.length - 1;
    let code = 200;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const ifRange = req.headers['if-range'];
    if (range !== null && !b.ignoreRange && (ifRange === undefined || ifRange === o.etag || ifRange === LAST_MODIFIED)) {
      start = Number(range[1]);
      end = range[2] === '' ? end : Math.min(end, Number(range[2]));
      code = 206;
    }
    const body = o.body.subarray(start, end + 1);
    const headers: Record<string, string> = { 'content-type': 'video/mp2t', ...validators, 'content-length': String(b.lieLength ?? body.length), ...b.headers };
    if (code === 206) headers['content-range'] = b.lieContentRange ?? `bytes ${start}-${end}/${o.body.length}`;
    if (b.noLength) delete headers['content-length'];
    res.writeHead(code, headers);
    if (b.noLength) res.flushHeaders();
    const resets = (code === 200 || (code === 206 && b.resetRanges === true)) && b.resetAfter !== undefined && n <= (b.resetTimes ?? Infinity);
    if (b.stall) {
      res.write(body.subarray(0, 1));
      return; // never finishes: the client's body timeout must end it
    }
    const limit = resets ? b.resetAfter! : body.length;
    const chunk = b.chunk ?? body.length;
    let gated = b.gate === undefined;
    for (let off = 0; off < limit; off += chunk) {
      if (res.destroyed) return;
      if (!gated && off >= (b.gateAfter ?? 0)) {
        gated = true;
        await b.gate;
      }
      res.write(body.subarray(off, Math.min(limit, off + chunk)));
      if (b.chunkDelayMs && off + chunk < limit) await sleep(b.chunkDelayMs);
    }
    sent.set(path, (sent.get(path) ?? 0) + Math.min(limit, body.length));
    if (resets || (b.lieLength !== undefined && b.lieLength > body.length)) {
      await flushed(res); // destroy() drops what Node still holds
      if (resets) await b.holdReset?.(sent.get(path)!);
      res.socket?.destroy();
      return;
    }
    res.end();
    const t = finishedAt.get(path) ?? [];
    t.push(performance.now());
    finishedAt.set(path, t);
  };

  const start = (): Promise<void> =>
    new Promise((resolve) => {
      server = createServer((req, res) => void handle(req, res));
      server.on('connection', (s: Socket) => {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
      });
      server.listen(port, '127.0.0.1', () => {
        port = (server!.address() as AddressInfo).port;
        resolve();
      });
    });
  return {
    get url() {
      return `http://127.0.0.1:${port}/`;
    },
    log,
    finishedAt,
    put(path, body, behaviour = {}) {
      objects.set(path, { body, b: behaviour, etag: `"${createHash('sha256').update(body).digest('hex').slice(0, 16)}"` });
    },
    behave(path, behaviour) {
      const o = objects.get(path);
      if (o !== undefined) o.b = behaviour;
    },
    count: (path) => counts.get(path) ?? 0,
    async stop() {
      const s = server;
      server = undefined;
      if (s === undefined) return;
      for (const socket of sockets) socket.destroy();
      await new Promise((r) => s.close(r));
    },
    start,
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function flushed(res: ServerResponse): Promise<void> {
  const s = res.socket;
  if (s && !s.destroyed && s.writableLength > 0) await new Promise((resolve) => s.once('drain', resolve).once('close', resolve));
}
