/**
 * createSegd(): the library face of segd. It returns a (req, res) handler for node:http,
 * Express or any framework that exposes the raw request and response, plus close().
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { realpath, stat } from 'node:fs/promises';
import { pino, type Logger } from 'pino';
import { CorsPolicy } from './http/cors.js';
import { DEFAULT_CACHE_POLICY, type CachePolicy } from './http/cache-control.js';
import { DEFAULT_MAX_RANGES } from './http/range.js';
import { DEFAULT_MAX_URL_LENGTH } from './http/url-path.js';
import { Metrics } from './observe/metrics.js';
import { nativeDescription } from './native/index.js';
import { LoadPool, defaultThreads } from './pool/load-pool.js';
import { FileStore } from './store/folder.js';
import { createHandler, type ContentMount, type InternalEndpoint } from './serve/handler.js';
import { describe, type Representation } from './serve/representation.js';
import { listStreams } from './serve/streams.js';
import { ServedManifest } from './catalogue/served.js';
import { WEB_DIR, hlsJsDir } from './config/paths.js';
import { parseSize } from './config/size.js';
import { crcHex } from './http/etag.js';

export interface SegdOptions {
  /** The directory of HLS content to serve. */
  readonly root: string;
  /** Hot cache bound in bytes, or a size string such as `512MiB`. Default 512 MiB. */
  readonly cacheSize?: number | string;
  /** Worker threads for the cold path. Default: cores minus one, at least one. */
  readonly threads?: number;
  /** `*` (default) or a list of allowed origins. */
  readonly corsOrigin?: string | readonly string[];
  /** How long a file's stat is trusted before it is checked again, in ms. Default 1000. */
  readonly validityMs?: number;
  /** Live playlists' max-age as a fraction of their target duration. Default 0.5. */
  readonly liveMaxAgeFraction?: number;
  /** Serve symlinks that lead outside the root. Default false. */
  readonly followSymlinks?: boolean;
  /** Serve the hls.js test page at /player/ and the stream list at /api/streams. Default true. */
  readonly player?: boolean;
  /** A JSON access log line per request (pino) to stdout, or your own pino logger. Default off. */
  readonly log?: boolean | Logger;
  /**
   * With a manifest (`segd index`): check each file's CRC32C against it as the file enters the
   * cache and refuse a mismatch with 503 (true, the default), or take the manifest's checksums on
   * trust and hash nothing at serve time (false).
   */
  readonly verify?: boolean;
  readonly maxRanges?: number;
  readonly maxUrlLength?: number;
}

export interface Segd {
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void;
  readonly metrics: Metrics;
  /** False once close() has begun: /readyz answers 503 so load balancers drain this node. */
  readonly ready: boolean;
  /** Which byte path is active: the native addon or the TypeScript fallback. */
  readonly byteEngine: string;
  close(): Promise<void>;
}

export class SegdError extends Error {
  constructor(message: string, readonly code: string) {
    super(message);
    this.name = 'SegdError';
  }
}

async function directory(path: string): Promise<string> {
  const st = await stat(path).catch(() => undefined);
  if (!st?.isDirectory()) throw new SegdError(`directory not found: ${path}`, 'ESEGDNODIR');
  return realpath(path);
}

export async function createSegd(options: SegdOptions): Promise<Segd> {
  const realRoot = await directory(options.root);
  const maxBytes = typeof options.cacheSize === 'string' ? parseSize(options.cacheSize) : (options.cacheSize ?? 512 * 1024 ** 2);
  const threads = options.threads ?? defaultThreads();
  if (!Number.isInteger(threads) || threads < 1) throw new SegdError(`threads must be a whole number ≥ 1, got ${threads}`, 'ESEGDOPTION');
  const origins = options.corsOrigin === undefined ? ['*'] : typeof options.corsOrigin === 'string' ? options.corsOrigin.split(',').map((s) => s.trim()) : [...options.corsOrigin];
  const cors = new CorsPolicy(origins);
  const cachePolicy: CachePolicy = { ...DEFAULT_CACHE_POLICY, liveFraction: options.liveMaxAgeFraction ?? DEFAULT_CACHE_POLICY.liveFraction };
  const logger = options.log === true ? pino() : options.log === false || options.log === undefined ? undefined : options.log;

  // Diagnostics go to the pino logger when there is one, else one line each on stderr.
  const warn = (msg: string): void => void (logger ? logger.warn(msg) : process.stderr.write(`segd: ${msg}\n`));
  const error = (msg: string, detail: Record<string, unknown>): void =>
    void (logger ? logger.error(detail, msg) : process.stderr.write(`segd: ${msg} ${JSON.stringify(detail)}\n`));

  const manifest = await ServedManifest.open(realRoot, warn);
  const pool = new LoadPool(threads);
  // The sources are read at scrape time, after `store` below exists.
  const metrics = new Metrics({
    cacheBytes: () => store.bytes,
    cacheEntries: () => store.entries,
    poolQueueDepth: () => pool.stats.queueSize,
  });
  pool.onTaskTime = (s) => metrics.poolTaskSeconds.observe(s);

  const staticCors = cors.staticHeaders();
  // The player's own files change with segd releases, not with content: always revalidated.
  const playerRoots: string[] = [];
  const isPlayerFile = (file: string): boolean => playerRoots.some((root) => file.startsWith(root + '/'));
  const store = new FileStore<Representation>({
    maxBytes,
    validityMs: options.validityMs ?? 1000,
    pool,
    expected: (file) => manifest.expected(file),
    verify: options.verify ?? true,
    describe: (f) =>
      describe(f, {
        cachePolicy,
        corsHeaders: staticCors,
        cacheControl: isPlayerFile(f.file) ? 'no-cache' : undefined,
        reprDigest: manifest.reprDigest(f.file, f.size, f.mtimeMs, f.crc32c),
      }),
    events: {
      hit: () => metrics.cacheHits.inc(),
      miss: () => metrics.cacheMisses.inc(),
      evict: () => metrics.cacheEvictions.inc(),
      rewarm: () => metrics.cacheRewarms.inc(),
      corrupt: (file, expected, actual) => {
        metrics.integrityFailures.inc();
        error('integrity check failed, file refused until it changes', { file, crc32c: crcHex(actual), manifest: crcHex(expected) });
      },
    },
  });

  const content: ContentMount = { root: realRoot, realRoot, followSymlinks: options.followSymlinks ?? false };
  const mounts: { prefix: string; mount: ContentMount; index?: string }[] = [];
  const endpoints = new Map<string, InternalEndpoint>();
  let ready = true;

  endpoints.set('metrics', async () => ({ status: 200, contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }));
  endpoints.set('healthz', () => ({ status: 200, contentType: 'text/plain; charset=utf-8', body: 'ok\n' }));
  endpoints.set('readyz', () => (ready ? { status: 200, contentType: 'text/plain; charset=utf-8', body: 'ready\n' } : { status: 503, contentType: 'text/plain; charset=utf-8', body: 'draining\n' }));

  if (options.player ?? true) {
    const web = await realpath(WEB_DIR).catch(() => undefined);
    const vendor = await realpath(hlsJsDir()).catch(() => undefined);
    if (vendor) mounts.push({ prefix: 'player/vendor', mount: { root: vendor, realRoot: vendor, followSymlinks: false } });
    if (web) mounts.push({ prefix: 'player', mount: { root: web, realRoot: web, followSymlinks: false }, index: 'index.html' });
    for (const m of mounts) playerRoots.push(m.mount.root);
    let streams: { at: number; body: Promise<string> } | undefined;
    endpoints.set('api/streams', async () => {
      if (streams === undefined || Date.now() - streams.at > 5000) {
        streams = { at: Date.now(), body: listStreams(realRoot, manifest.catalogue()?.assets).then((s) => JSON.stringify({ streams: s })) };
      }
      return { status: 200, contentType: 'application/json', body: await streams.body };
    });
  }
  endpoints.set('api/catalogue', () => {
    const c = manifest.catalogue();
    return c === undefined
      ? { status: 404, contentType: 'application/json', body: JSON.stringify({ error: 'no manifest: run segd index DIR' }) }
      : { status: 200, contentType: 'application/json', body: JSON.stringify(c) };
  });
  const handler = createHandler({
    store,
    metrics,
    cors,
    corsFor: cors.perRequest ? (req) => { const o = cors.allowOrigin(req.headers.origin); return o === undefined ? [] : ['Access-Control-Allow-Origin', o]; } : undefined,
    maxRanges: options.maxRanges ?? DEFAULT_MAX_RANGES,
    maxUrlLength: options.maxUrlLength ?? DEFAULT_MAX_URL_LENGTH,
    content,
    mounts,
    endpoints,
    log: (msg, err) => error(msg, { err: String((err as Error | undefined)?.message ?? err) }),
    home: mounts.some((m) => m.index !== undefined) ? '/player/' : undefined,
  });

  const logged = logger === undefined ? handler : withAccessLog(handler, logger);
  return {
    handler: logged,
    metrics,
    get ready() {
      return ready;
    },
    byteEngine: nativeDescription(),
    async close() {
      ready = false;
      manifest.close();
      store.clear();
      await pool.close();
    },
  };
}

function withAccessLog(handler: (req: IncomingMessage, res: ServerResponse) => void, log: Logger): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const t0 = performance.now();
    res.once('close', () => {
      log.info({
        method: req.method,
        url: req.url,
        status: res.statusCode,
        range: req.headers.range,
        bytes: res.socket?.bytesWritten,
        ms: Math.round((performance.now() - t0) * 100) / 100,
        complete: res.writableFinished,
      });
    });
    handler(req, res);
  };
}
