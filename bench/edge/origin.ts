// The origin behind every edge under test, run as its own process by bench/edge.ts:
//
//   node --import tsx bench/edge/origin.ts --port N [--seed S] [--pool-bytes N]
//        [--delay-ms 50] [--pace-ms 200] [--chunk-bytes 65536]
//
//   GET|HEAD /o/<size>/<max-age>/<name>   a generated object (objects.ts) after --delay-ms, its body
//                                          spread over --pace-ms in --chunk-bytes pieces (0: at once);
//                                          Cache-Control: public, max-age=<max-age>; a strong ETag;
//                                          If-None-Match → 304; one `Range` → 206 (If-Range honoured)
//   GET /__probe                           200 `ok`, no-store (readiness through an edge)
//   GET /__stats?prefix=P                  JSON: requests for objects whose path starts with P
//
// Requests are counted when they arrive, before the delay, so the bench can tell how many origin
// fetches an edge made (/__stats is asked directly, never through an edge).
import http from 'node:http';
import { ArgReader } from '../options.js';
import { exitOnSignals } from '../servers/lifecycle.js';
import { DEFAULT_POOL_BYTES, makePool, ObjectBytes, parseObjectPath, type OriginStats } from './objects.js';

interface Counts {
  n: number;
  conditional: number;
  ranges: number;
  heads: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves when `res` can take more, or is closed. */
function drained(res: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done).off('close', done);
      resolve();
    };
    res.on('drain', done).on('close', done);
  });
}

function parseFlags(argv: string[]): { port: number; seed: string; poolBytes: number; delayMs: number; paceMs: number; chunkBytes: number } {
  const o = { port: 0, seed: 'segd-edge-bench', poolBytes: DEFAULT_POOL_BYTES, delayMs: 0, paceMs: 0, chunkBytes: 64 * 1024 };
  const args = new ArgReader(argv);
  for (let a = args.next(); a !== undefined; a = args.next()) {
    if (a === '--port') o.port = args.number(a, 1);
    else if (a === '--seed') o.seed = args.value(a);
    else if (a === '--pool-bytes') o.poolBytes = args.number(a, 1024);
    else if (a === '--delay-ms') o.delayMs = args.number(a, 0);
    else if (a === '--pace-ms') o.paceMs = args.number(a, 0);
    else if (a === '--chunk-bytes') o.chunkBytes = args.number(a, 1);
    else throw new Error(`origin: unknown argument ${a}`);
  }
  if (!o.port) throw new Error('origin: --port is required');
  return o;
}

/** A single `bytes=a-b`, `a-` or `-n` range within `size`, or undefined (answered whole). */
function singleRange(header: string | undefined, size: number): [number, number] | undefined {
  const m = header === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  const [start, end] = m[1] === '' ? [Math.max(0, size - Number(m[2])), size] : [Number(m[1]), m[2] === '' ? size : Math.min(size, Number(m[2]) + 1)];
  return start < end ? [start, end] : undefined;
}

async function main(): Promise<void> {
  const o = parseFlags(process.argv.slice(2));
  const pool = makePool(o.seed, o.poolBytes);
  const lastModified = new Date(Date.now() - 86_400_000).toUTCString();
  const counts = new Map<string, Counts>();

  function stats(prefix: string): OriginStats {
    const s: OriginStats = { requests: 0, objects: 0, maxPerObject: 0, conditional: 0, ranges: 0, heads: 0 };
    for (const [p, c] of counts) {
      if (!p.startsWith(prefix)) continue;
      s.requests += c.n;
      s.objects++;
      s.maxPerObject = Math.max(s.maxPerObject, c.n);
      s.conditional += c.conditional;
      s.ranges += c.ranges;
      s.heads += c.heads;
    }
    return s;
  }

  /** Writes the body, paced: chunk i is due at first + i × (pace / chunks); waits for drain too. */
  async function body(res: http.ServerResponse, obj: ObjectBytes, start: number, end: number): Promise<void> {
    if (o.paceMs <= 0) {
      for (const p of obj.parts(start, end)) res.write(p);
      res.end();
      return;
    }
    const chunks = Math.max(1, Math.ceil((end - start) / o.chunkBytes));
    const interval = o.paceMs / chunks;
    const first = performance.now();
    for (let i = 0; i < chunks && !res.destroyed; i++) {
      const a = start + i * o.chunkBytes;
      let ok = true;
      for (const p of obj.parts(a, Math.min(end, a + o.chunkBytes))) ok = res.write(p) && ok;
      if (!ok) await drained(res);
      const wait = first + (i + 1) * interval - performance.now();
      if (wait > 0 && i < chunks - 1) await sleep(wait);
    }
    res.end();
  }

  async function object(req: http.IncomingMessage, res: http.ServerResponse, path: string): Promise<void> {
    const spec = parseObjectPath(path);
    if (!spec || spec.size > pool.length) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('no such object\n');
      return;
    }
    const c = counts.get(path) ?? { n: 0, conditional: 0, ranges: 0, heads: 0 };
    counts.set(path, c);
    c.n++;
    if (req.headers['if-none-match'] !== undefined || req.headers['if-modified-since'] !== undefined) c.conditional++;
    if (req.headers.range !== undefined) c.ranges++;
    if (req.method === 'HEAD') c.heads++;
    const obj = new ObjectBytes(pool, path, spec.size);
    if (o.delayMs > 0) await sleep(o.delayMs);
    if (res.destroyed) return;
    const headers: http.OutgoingHttpHeaders = {
      'content-type': 'video/iso.segment',
      'cache-control': `public, max-age=${spec.maxAge}`,
      etag: obj.etag,
      'last-modified': lastModified,
      'accept-ranges': 'bytes',
    };
    const inm = req.headers['if-none-match'];
    if (inm !== undefined && inm.split(',').some((t) => t.trim().replace(/^W\//, '') === obj.etag)) {
      res.writeHead(304, headers).end();
      return;
    }
    const ifRange = req.headers['if-range'];
    const range = ifRange === undefined || ifRange === obj.etag || ifRange === lastModified ? singleRange(req.headers.range, obj.size) : undefined;
    const [start, end] = range ?? [0, obj.size];
    if (range) headers['content-range'] = `bytes ${start}-${end - 1}/${obj.size}`;
    headers['content-length'] = end - start;
    res.writeHead(range ? 206 : 200, headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    await body(res, obj, start, end);
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://origin');
    if (url.pathname === '/__probe') {
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' }).end('ok\n');
    } else if (url.pathname === '/__stats') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(stats(url.searchParams.get('prefix') ?? '/')));
    } else if (req.method === 'GET' || req.method === 'HEAD') {
      object(req, res, url.pathname).catch((e: unknown) => res.destroy(e as Error));
    } else {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    }
  });
  // Longer than any edge keeps an idle upstream connection, so none is closed under a reuse.
  server.keepAliveTimeout = 300_000;
  server.headersTimeout = 301_000;
  server.requestTimeout = 0;
  server.listen(o.port, '127.0.0.1', () => console.log(`origin listening on 127.0.0.1:${o.port}`));
  exitOnSignals(server);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(2);
});
