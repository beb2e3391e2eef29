/**
 * createSegd(): the library face of segd. It returns a (req, res) handler for node:http,
 * Express or any framework that exposes the raw request and response, plus close().
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { realpath, stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import { CorsPolicy } from './http/cors.js';
import { DEFAULT_CACHE_POLICY, type CachePolicy } from './http/cache-control.js';
import { DEFAULT_MAX_RANGES } from './http/range.js';
import { DEFAULT_MAX_URL_LENGTH } from './http/url-path.js';
import { crcHex } from './http/etag.js';
import { Metrics } from './observe/metrics.js';
import { accessLogger, diagnostics as stderrDiagnostics, type Diagnostics } from './observe/log.js';
import { nativeDescription, sigbusFaults } from './native/index.js';
import { LoadPool, defaultThreads } from './pool/load-pool.js';
import { FileStore } from './store/folder.js';
import { createHandler, type ContentMount } from './serve/handler.js';
import { describe, type Representation } from './serve/representation.js';
import { internalEndpoints, playerMounts, type PrefixMount } from './serve/endpoints.js';
import { ServedManifest } from './catalogue/served.js';
import { parseSize } from './config/size.js';
import { cacheControlFor, lifetimeFor } from './http/cache-control.js';
import { DEFAULT_TOKEN_PARAMS, parseCmcd } from './http/cache-key.js';
import { edgeKindFor, type ContentKind } from './http/content-type.js';
import { MemoryTier } from './store/memory.js';
import { DiskCache } from './store/disk/cache.js';
import { EdgeStore, type EdgeEntry } from './store/edge/edge.js';
import { DEFAULT_ORIGIN, httpTarget, Origin, type OriginOptions, type Target } from './store/origin/client.js';
import { parseS3Url, s3Target } from './store/origin/s3.js';
import { edgeContent } from './serve/edge.js';

export interface SegdOptions {
  /** The directory of HLS content to serve (not with `origin`). */
  readonly root?: string;
  /**
   * Serve as an edge cache of this origin instead of a directory: `http(s)://host[:port]/prefix`
   * (any HTTP origin, another segd included) or `s3://bucket/prefix` (AWS credentials chain).
   * Needs `cacheDir`.
   */
  readonly origin?: string;
  /** The edge's disk cache directory (created if missing). */
  readonly cacheDir?: string;
  /** The disk cache's quota in bytes or as `50GiB`. Default 50 GiB. */
  readonly cacheDiskSize?: number | string;
  /** Objects larger than this are passed through, not stored. Default an eighth of the quota. */
  readonly maxObjectSize?: number | string;
  /** S3-compatible stores: the endpoint URL (then path-style addressing by default), region, addressing. */
  readonly s3Endpoint?: string;
  readonly s3Region?: string;
  readonly s3PathStyle?: boolean;
  /** Serve stale objects this long past their freshness when the origin fails, seconds (unless the origin says otherwise). Default 86400. */
  readonly staleIfError?: number;
  /** How long a 404/410 from the origin is remembered, ms. Default 10 s; 0 turns it off. */
  readonly negativeTtlMs?: number;
  /** Query parameters kept out of the cache key and the origin request, besides CMCD. Default: common token names. */
  readonly stripQuery?: readonly string[];
  /** Origin connection limits and timeouts (src/store/origin/client.ts). */
  readonly originOptions?: Partial<OriginOptions>;
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
  /** Where diagnostics go: JSON lines on stderr by default (see src/observe/log.ts). */
  readonly diagnostics?: Diagnostics;
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
  /** Where this instance writes its diagnostics (the server and CLI write theirs there too). */
  readonly diagnostics: Diagnostics;
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

const size = (v: number | string | undefined, fallback: number): number => (typeof v === 'string' ? parseSize(v) : (v ?? fallback));

export async function createSegd(options: SegdOptions): Promise<Segd> {
  if ((options.root === undefined) === (options.origin === undefined)) throw new SegdError('serve either a directory or an origin (--origin), not both', 'ESEGDOPTION');
  const maxBytes = size(options.cacheSize, 512 * 1024 ** 2);
  const threads = options.threads ?? defaultThreads();
  if (!Number.isInteger(threads) || threads < 1) throw new SegdError(`threads must be a whole number ≥ 1, got ${threads}`, 'ESEGDOPTION');
  const origins = options.corsOrigin === undefined ? ['*'] : typeof options.corsOrigin === 'string' ? options.corsOrigin.split(',').map((s) => s.trim()) : [...options.corsOrigin];
  const cors = new CorsPolicy(origins);
  const staticCors = cors.staticHeaders();
  const corsFor = cors.perRequest ? (req: IncomingMessage): string[] => { const o = cors.allowOrigin(req.headers.origin); return o === undefined ? [] : ['Access-Control-Allow-Origin', o]; } : undefined;
  const cachePolicy: CachePolicy = { ...DEFAULT_CACHE_POLICY, liveFraction: options.liveMaxAgeFraction ?? DEFAULT_CACHE_POLICY.liveFraction };
  const access = options.log === true ? accessLogger() : options.log === false || options.log === undefined ? undefined : options.log;
  const diag = options.diagnostics ?? stderrDiagnostics();

  const realRoot = options.root === undefined ? undefined : await directory(options.root);
  const manifest = realRoot === undefined ? undefined : await ServedManifest.open(realRoot, (msg, fields) => diag.warn(msg, fields));
  const pool = new LoadPool(threads);
  // The sources are read at scrape time, once the stores below exist.
  const metrics: Metrics = new Metrics({
    cacheBytes: (): number => store.memory.bytes + (edge?.memory.bytes ?? 0),
    cacheEntries: (): number => store.memory.size + (edge?.memory.size ?? 0),
    poolQueueDepth: () => pool.stats.queueSize,
    sigbusRepairs: sigbusFaults,
  });
  pool.onTaskTime = (s) => metrics.poolTaskSeconds.observe(s);

  // The player's own files change with segd releases, not with content: always revalidated.
  const playerRoots: string[] = [];
  const isPlayerFile = (file: string): boolean => playerRoots.some((root) => file.startsWith(root + '/'));
  // Files from folders: the content root, and the player's page (an edge serves that from here too).
  const store = new FileStore<Representation>({
    maxBytes: realRoot === undefined ? PLAYER_CACHE : maxBytes,
    validityMs: options.validityMs ?? 1000,
    pool,
    expected: (file) => manifest?.expected(file),
    verify: options.verify ?? true,
    describe: (f) =>
      describe(f, {
        cachePolicy,
        corsHeaders: staticCors,
        cacheControl: isPlayerFile(f.file) ? 'no-cache' : undefined,
        reprDigest: manifest?.reprDigest(f.file, f.size, f.mtimeMs, f.crc32c),
      }),
    events: {
      hit: () => metrics.cacheHits.inc({ tier: 'memory' }),
      miss: () => metrics.cacheMisses.inc(),
      evict: () => metrics.cacheEvictions.inc(),
      rewarm: () => metrics.cacheRewarms.inc(),
      truncated: (file) => truncatedUnderMapping(diag, file),
      corrupt: (file, expected, actual) => {
        metrics.integrityFailures.inc();
        diag.limited('error', `corrupt:${file}`, 'integrity check failed, file refused until it changes', {
          file,
          reason: 'checksum differs from the manifest',
          crc32c: crcHex(actual),
          manifest: crcHex(expected),
        });
      },
      unreadable: (file, err) => diag.limited('error', `unreadable:${file}`, 'cannot read file', { file, code: err.code, reason: err.message }),
      malformedPlaylist: (file, problem) => diag.limited('warn', `playlist:${file}`, 'malformed playlist, served as it is', { file, reason: problem }),
    },
  });
  if (manifest !== undefined) manifest.onChange = () => store.redescribe();

  const edge: EdgeParts | undefined =
    options.origin === undefined
      ? undefined
      : await createEdge(options, { pool, metrics, diag, cachePolicy, staticCors, maxBytes }).catch(async (err: unknown) => {
          manifest?.close();
          await pool.close();
          throw err;
        });

  const content: ContentMount | undefined = realRoot === undefined ? undefined : { root: realRoot, realRoot, followSymlinks: options.followSymlinks ?? false };
  let ready = true;
  const endpoints = internalEndpoints({ metrics, manifest, ready: () => ready });
  const mounts: PrefixMount[] = options.player ?? true ? await playerMounts(realRoot, manifest, endpoints) : [];
  for (const m of mounts) playerRoots.push(m.mount.root);

  const respondCtx = { metrics, corsFor, maxRanges: options.maxRanges ?? DEFAULT_MAX_RANGES };
  const handler = createHandler({
    ...respondCtx,
    store,
    memory: store.memory,
    cors,
    maxUrlLength: options.maxUrlLength ?? DEFAULT_MAX_URL_LENGTH,
    content,
    mounts,
    endpoints,
    log: (msg, err) => diag.error(msg, { reason: String((err as Error | undefined)?.message ?? err) }),
    home: mounts.some((m) => m.index !== undefined) ? '/player/' : undefined,
    edge:
      edge &&
      edgeContent({
        ...respondCtx,
        memory: edge.memory,
        edge: edge.store,
        cachePolicy,
        stripParams: new Set((options.stripQuery ?? DEFAULT_TOKEN_PARAMS).map((p) => p.toLowerCase())),
        corsOf: (req) => (corsFor === undefined ? staticCors : [...staticCors, ...corsFor(req)]),
      }),
  });

  return {
    handler: access === undefined ? handler : withAccessLog(handler, access),
    metrics,
    diagnostics: diag,
    get ready() {
      return ready;
    },
    byteEngine: nativeDescription(),
    async close() {
      ready = false;
      manifest?.close();
      store.clear();
      await edge?.close();
      await pool.close();
    },
  };
}

/** A cached object's file shrank under its mapping: someone writes served files in place. */
function truncatedUnderMapping(diag: Diagnostics, file: string): void {
  diag.limited('warn', `truncated:${file}`, 'file truncated while mapped (written in place, not replaced by a rename): dropped from the cache, reloaded on the next request', {
    file,
    code: 'ESEGDPOISONED',
  });
}

/** The player's page and hls.js, all an edge serves from its own folders. */
const PLAYER_CACHE = 16 * 1024 * 1024;

interface EdgeParts {
  readonly store: EdgeStore<Representation>;
  readonly memory: MemoryTier<EdgeEntry<Representation>>;
  close(): Promise<void>;
}

/** The edge's tiers (memory → disk → origin), wired to metrics and diagnostics. */
async function createEdge(
  options: SegdOptions,
  d: { pool: LoadPool; metrics: Metrics; diag: Diagnostics; cachePolicy: CachePolicy; staticCors: readonly string[]; maxBytes: number },
): Promise<EdgeParts> {
  const { metrics, diag } = d;
  if (options.cacheDir === undefined) throw new SegdError('an origin needs a cache directory (--cache-dir)', 'ESEGDOPTION');
  const target = originTarget(options);
  const quota = size(options.cacheDiskSize, 50 * 1024 ** 3);
  let disk: DiskCache | undefined;
  let store: EdgeStore<Representation> | undefined;
  const origin = new Origin(target, { ...DEFAULT_ORIGIN, ...options.originOptions }, {
    response: (status, s) => {
      m.originRequests.inc({ status: String(status) });
      m.originFirstByte.observe(s);
    },
    failure: (code) => m.originRequests.inc({ status: code }),
    retry: () => m.originRetries.inc(),
    shortCircuit: () => m.originShortCircuits.inc(),
  });
  const m = metrics.edge({
    diskBytes: () => disk?.bytes ?? 0,
    diskObjects: () => disk?.objects ?? 0,
    fillsInFlight: () => store?.inflight ?? 0,
    breakerState: () => ({ closed: 0, 'half-open': 1, open: 2 })[origin.breaker.state],
  });
  const memory = new MemoryTier<EdgeEntry<Representation>>(d.maxBytes, (file) => d.pool.warm(file), {
    evict: () => metrics.cacheEvictions.inc(),
    rewarm: () => metrics.cacheRewarms.inc(),
    rewarmFailed: (file, err) => diag.limited('warn', `rewarm:${file}`, 'cannot re-read dropped pages', { file, code: err.code, reason: err.message }),
    truncated: (file) => truncatedUnderMapping(diag, file),
  });
  const t0 = performance.now();
  disk = await DiskCache.open(options.cacheDir, quota, {
    evicted: (hash) => {
      m.diskEvictions.inc();
      memory.delete(hash); // its mapping would keep the unlinked file's blocks in use
    },
    error: (op, err) => {
      m.diskErrors.inc({ op });
      diag.limited('error', `disk:${op}:${err.code}`, 'disk cache operation failed, serving without the disk', { file: options.cacheDir, code: err.code, reason: err.message });
    },
  });
  diag.info('disk cache ready', { file: options.cacheDir, objects: disk.objects, bytes: disk.bytes, quota, ms: Math.round(performance.now() - t0) });
  const kindOf = (path: string, ct: string | undefined): ContentKind => edgeKindFor(path, ct);
  store = new EdgeStore<Representation>({
    origin,
    disk,
    memory,
    pool: d.pool,
    staleIfError: options.staleIfError ?? 86_400,
    negativeTtlMs: options.negativeTtlMs ?? 10_000,
    maxObjectBytes: size(options.maxObjectSize, Math.floor(quota / 8)),
    fallbackLifetime: (path, file, ct) => lifetimeFor(kindOf(path, ct), file?.playlist, d.cachePolicy),
    describe: (file, meta, path) => {
      const h = meta.headers;
      const extra: string[] = [];
      for (const name of ['expires', 'content-disposition', 'content-language'] as const) if (h[name] !== undefined) extra.push(name, h[name]);
      return describe(file, {
        cachePolicy: d.cachePolicy,
        corsHeaders: d.staticCors,
        path,
        contentType: h['content-type'],
        lastModified: h['last-modified'] ?? null,
        cacheControl: h['cache-control'] ?? cacheControlFor(kindOf(path, h['content-type']), file.playlist, d.cachePolicy),
        reprDigest: h['repr-digest'],
        extra,
      });
    },
    events: {
      hit: (tier) => metrics.cacheHits.inc({ tier }),
      miss: () => metrics.cacheMisses.inc(),
      collapsed: () => m.collapsed.inc(),
      stale: (why) => m.staleServed.inc({ reason: why }),
      discarded: (reason, key, detail) => {
        m.fillsDiscarded.inc({ reason });
        diag.limited('warn', `fill:${key}`, 'origin fetch discarded, nothing stored', { file: key, reason: `${reason}: ${detail}` });
      },
      corrupt: (key, reason) => {
        m.diskCorrupt.inc();
        diag.limited('error', `corrupt:${key}`, 'disk cache object failed its check, dropped and fetched again', { file: key, reason });
      },
      originFailed: (key, err) => diag.limited('warn', `origin:${err.code}`, 'origin did not answer', { file: key, code: err.code, reason: err.message }),
    },
    fillEvents: {
      bytes: (n) => m.originBytes.inc(n),
      resumed: () => m.originResumes.inc(),
      diskError: (op, err) => {
        m.diskErrors.inc({ op });
        diag.limited('error', `disk:${op}:${err.code}`, 'disk cache write failed, serving without the disk', { file: options.cacheDir, code: err.code, reason: err.message });
      },
    },
  });
  const edgeStore = store;
  return {
    store: edgeStore,
    memory,
    async close() {
      memory.clear();
      edgeStore.clear();
      await origin.close();
    },
  };
}

function originTarget(o: SegdOptions): Target {
  const url = o.origin!;
  if (/^s3:\/\//i.test(url)) {
    let location;
    try {
      location = parseS3Url(url, { endpoint: o.s3Endpoint, region: o.s3Region, pathStyle: o.s3PathStyle });
    } catch (err) {
      throw new SegdError((err as Error).message, 'ESEGDOPTION');
    }
    return s3Target(location);
  }
  let base: URL;
  try {
    base = new URL(url);
  } catch {
    throw new SegdError(`bad origin URL "${url}": expected http(s)://host[:port]/prefix or s3://bucket/prefix`, 'ESEGDOPTION');
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new SegdError(`bad origin URL "${url}": expected http(s):// or s3://`, 'ESEGDOPTION');
  return httpTarget(base);
}

function withAccessLog(handler: (req: IncomingMessage, res: ServerResponse) => void, log: Logger): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const t0 = performance.now();
    const socket = req.socket;
    const before = socket.bytesWritten; // the socket's count spans every request of a keep-alive connection
    res.once('close', () => {
      const url = req.url ?? '';
      const q = url.indexOf('?');
      log.info({
        method: req.method,
        url,
        status: res.statusCode,
        range: req.headers.range,
        bytes: socket.bytesWritten - before,
        ms: Math.round((performance.now() - t0) * 100) / 100,
        complete: res.writableFinished,
        cmcd: parseCmcd(q < 0 ? '' : url.slice(q + 1), req.headers),
      });
    });
    handler(req, res);
  };
}
