// The edge bench's own clients, for what wrk cannot do: a herd of clients that all ask at the
// same instant and time their first and last bytes, and a sweep that checks every body it gets
// against the original bytes (memcmp per chunk, nothing kept).
import http from 'node:http';
import net from 'node:net';
import type { ObjectBytes } from './objects.js';
import { readResponse } from './raw-response.js';

export interface Fetched {
  status: number;
  /** When the request was fully handed to the kernel, from the request's start. */
  sentMs: number;
  /** Value of the header that says how the cache answered (normalised), or '' without it. */
  cache: string;
  /** From the request's start: headers, first body byte, last body byte (NaN when not reached). */
  ttfbMs: number;
  firstBodyMs: number;
  ttlbMs: number;
  bytes: number;
  /** A 200 whose body is exactly the original object, every byte. */
  intact: boolean;
  error: string | null;
}

/** Nearest-rank percentile of `values` (NaN when empty). */
export function percentile(values: readonly number[], p: number): number {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  return v.length === 0 ? NaN : v[Math.min(v.length - 1, Math.max(0, Math.ceil((p / 100) * v.length) - 1))]!;
}

/** How many times each value occurs. */
export function tally(values: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}

/** A Cache-Status-like value without what changes from request to request (ttl, age). */
export function normaliseCache(v: string | string[] | undefined): string {
  const s = Array.isArray(v) ? v.join(', ') : (v ?? '');
  return s.replace(/;\s*ttl=-?\d+/g, '').trim();
}

interface Options {
  port: number;
  path: string;
  cacheHeader: string;
  expected: ObjectBytes | undefined;
  timeoutMs: number;
  agent?: http.Agent | false;
}

/** One GET, timed, its body compared with `expected` chunk by chunk as it arrives. */
export function fetchChecked(o: Options): Promise<Fetched> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const r: Fetched = { status: 0, sentMs: NaN, cache: '', ttfbMs: NaN, firstBodyMs: NaN, ttlbMs: NaN, bytes: 0, intact: false, error: null };
    let same = true;
    let settled = false;
    const finish = (error: string | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      r.error = error;
      r.intact = error === null && r.status === 200 && same && o.expected !== undefined && r.bytes === o.expected.size;
      resolve(r);
    };
    const req = http.request({
      host: '127.0.0.1',
      port: o.port,
      path: o.path,
      agent: o.agent ?? false,
    });
    const timer = setTimeout(() => {
      finish(`timeout after ${o.timeoutMs} ms`);
      req.destroy();
    }, o.timeoutMs);
    req.on('response', (res) => {
      r.ttfbMs = performance.now() - t0;
      r.status = res.statusCode ?? 0;
      r.cache = normaliseCache(res.headers[o.cacheHeader]);
      res.on('data', (chunk: Buffer) => {
        if (r.bytes === 0) r.firstBodyMs = performance.now() - t0;
        if (same && o.expected !== undefined) same = o.expected.matchesAt(r.bytes, chunk);
        r.bytes += chunk.length;
      });
      res.on('end', () => {
        r.ttlbMs = performance.now() - t0;
        finish(res.complete ? null : 'body cut short');
      });
      res.on('error', (e) => finish(e.message));
      res.on('aborted', () => finish('aborted'));
    });
    req.on('error', (e) => finish((e as NodeJS.ErrnoException).code ?? e.message));
    req.on('finish', () => (r.sentMs = performance.now() - t0));
    req.end();
  });
}

function connect(port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
    const t = setTimeout(() => s.destroy(new Error('connect timeout')), timeoutMs);
    s.once('connect', () => {
      clearTimeout(t);
      resolve(s);
    });
    s.once('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
}

/** Sockets of a herd in progress, destroyed by abortClients() (Ctrl-C). */
const open = new Set<net.Socket>();

/**
 * `clients` connections, all opened first; then one GET on each, all written in one loop
 * (raw-response.ts says why not node:http), timed from that instant.
 */
export async function herd(port: number, path: string, clients: number, expected: ObjectBytes, cacheHeader: string, timeoutMs: number): Promise<Fetched[]> {
  const sockets = await Promise.all(Array.from({ length: clients }, () => connect(port, 10_000)));
  for (const s of sockets) {
    open.add(s);
    s.once('close', () => open.delete(s));
  }
  try {
    let t0 = NaN;
    const clock = (): number => performance.now() - t0;
    const reads = sockets.map((socket) => {
      let same = true;
      const check = (offset: number, piece: Buffer): void => {
        if (same) same = expected.matchesAt(offset, piece);
      };
      return readResponse(socket, clock, check, timeoutMs).then((r) => ({ r, same }));
    });
    const request = Buffer.from(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUser-Agent: segd-bench-herd\r\n\r\n`, 'latin1');
    t0 = performance.now();
    for (const s of sockets) s.write(request);
    const sentMs = clock();
    return (await Promise.all(reads)).map(({ r, same }): Fetched => ({
      status: r.status,
      sentMs,
      cache: normaliseCache(r.headers[cacheHeader]),
      ttfbMs: r.firstByteMs,
      firstBodyMs: r.firstBodyMs,
      ttlbMs: r.lastByteMs,
      bytes: r.bytes,
      intact: r.error === null && r.complete && r.status === 200 && same && r.bytes === expected.size,
      error: r.error,
    }));
  } finally {
    for (const s of sockets) s.destroy();
  }
}

export function abortClients(): void {
  for (const s of open) s.destroy();
  open.clear();
}

export interface Sweep {
  requests: number;
  intact: number;
  statuses: Record<string, number>;
  caches: Record<string, number>;
  errors: Record<string, number>;
  p50Ms: number;
  p99Ms: number;
  seconds: number;
}

/**
 * GETs `paths` over `concurrency` keep-alive connections, checking every body: each path once,
 * or round and round until `untilMs` (performance.now()) when given.
 */
export async function sweep(
  port: number,
  paths: readonly string[],
  expect: (path: string) => ObjectBytes | undefined,
  o: { concurrency: number; cacheHeader: string; untilMs?: number; timeoutMs?: number },
): Promise<Sweep> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency });
  const results: Fetched[] = [];
  const t0 = performance.now();
  let next = 0;
  const more = (): boolean => (o.untilMs === undefined ? next < paths.length : performance.now() < o.untilMs);
  const worker = async (): Promise<void> => {
    while (more()) {
      const path = paths[next++ % paths.length]!;
      results.push(await fetchChecked({ port, path, cacheHeader: o.cacheHeader, expected: expect(path), timeoutMs: o.timeoutMs ?? 30_000, agent }));
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, o.concurrency) }, worker));
  } finally {
    agent.destroy();
  }
  return {
    requests: results.length,
    intact: results.filter((r) => r.intact).length,
    statuses: tally(results.map((r) => String(r.status))),
    caches: tally(results.map((r) => r.cache || '(none)')),
    errors: tally(results.flatMap((r) => (r.error ? [r.error] : !r.intact && r.status === 200 ? ['wrong bytes'] : []))),
    p50Ms: percentile(results.map((r) => r.ttlbMs), 50),
    p99Ms: percentile(results.map((r) => r.ttlbMs), 99),
    seconds: (performance.now() - t0) / 1000,
  };
}

/** GET a small text resource (an origin's /__stats, segd's /metrics). */
export function getText(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`GET ${path}: ${res.statusCode}`))));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: timeout`)));
    req.on('error', reject);
  });
}
