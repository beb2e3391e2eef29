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
import { nativeDescription } from './native/index.js';
import { LoadPool, defaultThreads } from './pool/load-pool.js';
import { FileStore } from './store/folder.js';
import { createHandler, type ContentMount } from './serve/handler.js';
import { describe, type Representation } from './serve/representation.js';
import { internalEndpoints, playerMounts, type PrefixMount } from './serve/endpoints.js';
import { ServedManifest } from './catalogue/served.js';
import { parseSize } from './config/size.js';

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

export async function createSegd(options: SegdOptions): Promise<Segd> {
  const realRoot = await directory(options.root);
  const maxBytes = typeof options.cacheSize === 'string' ? parseSize(options.cacheSize) : (options.cacheSize ?? 512 * 1024 ** 2);
  const threads = options.threads ?? defaultThreads();
  if (!Number.isInteger(threads) || threads < 1) throw new SegdError(`threads must be a whole number ≥ 1, got ${threads}`, 'ESEGDOPTION');
  const origins = options.corsOrigin === undefined ? ['*'] : typeof options.corsOrigin === 'string' ? options.corsOrigin.split(',').map((s) => s.trim()) : [...options.corsOrigin];
  const cors = new CorsPolicy(origins);
  const cachePolicy: CachePolicy = { ...DEFAULT_CACHE_POLICY, liveFraction: options.liveMaxAgeFraction ?? DEFAULT_CACHE_POLICY.liveFraction };
  const access = options.log === true ? accessLogger() : options.log === false || options.log === undefined ? undefined : options.log;
  const diag = options.diagnostics ?? stderrDiagnostics();

  const manifest = await ServedManifest.open(realRoot, (msg, fields) => diag.warn(msg, fields));
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
  manifest.onChange = () => store.redescribe();

  const content: ContentMount = { root: realRoot, realRoot, followSymlinks: options.followSymlinks ?? false };
  let ready = true;
  const endpoints = internalEndpoints({ metrics, manifest, ready: () => ready });
  const mounts: PrefixMount[] = options.player ?? true ? await playerMounts(realRoot, manifest, endpoints) : [];
  for (const m of mounts) playerRoots.push(m.mount.root);

  const handler = createHandler({
    store,
    memory: store.memory,
    metrics,
    cors,
    corsFor: cors.perRequest ? (req) => { const o = cors.allowOrigin(req.headers.origin); return o === undefined ? [] : ['Access-Control-Allow-Origin', o]; } : undefined,
    maxRanges: options.maxRanges ?? DEFAULT_MAX_RANGES,
    maxUrlLength: options.maxUrlLength ?? DEFAULT_MAX_URL_LENGTH,
    content,
    mounts,
    endpoints,
    log: (msg, err) => diag.error(msg, { reason: String((err as Error | undefined)?.message ?? err) }),
    home: mounts.some((m) => m.index !== undefined) ? '/player/' : undefined,
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
