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
import { DEFAULT_TOKEN_PARAMS } from './http/cache-key.js';
import { Metrics } from './observe/metrics.js';
import { accessLogger, diagnostics as stderrDiagnostics, type Diagnostics } from './observe/log.js';
import { withAccessLog } from './observe/access-log.js';
import { nativeDescription, nativeHandles, sigbusFaults } from './native/index.js';
import { LoadPool, servingThreads } from './pool/load-pool.js';
import type { OriginOptions } from './store/origin/client.js';
import type { GroupLink } from './store/disk/shared.js';
import { createHandler } from './serve/handler.js';
import { folderContent, type ContentMount } from './serve/folder.js';
import { edgeContent } from './serve/edge.js';
import { internalEndpoints, playerMounts, type PrefixMount } from './serve/endpoints.js';
import { ServedManifest } from './catalogue/served.js';
import { createFolderStore } from './compose/folder.js';
import { createEdge, sizeOf, type EdgeParts } from './compose/edge.js';
import { SegdError } from './config/error.js';

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
  /** This process's part in a group of workers sharing one disk cache (src/store/disk/shared.ts). */
  readonly group?: GroupLink;
  /** Origin connection limits and timeouts (src/store/origin/client.ts). */
  readonly originOptions?: Partial<OriginOptions>;
  /** Hot cache bound in bytes, or a size string such as `512MiB`. Default 512 MiB. */
  readonly cacheSize?: number | string;
  /** Worker threads for the cold path. Default: cores minus one, at least four (see servingThreads). */
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

export { SegdError };

async function directory(path: string): Promise<string> {
  const st = await stat(path).catch(() => undefined);
  if (!st?.isDirectory()) throw new SegdError(`directory not found: ${path}`, 'ESEGDNODIR');
  return realpath(path);
}

/** The player's page and hls.js, all an edge serves from its own folders. */
const PLAYER_CACHE = 16 * 1024 * 1024;

export async function createSegd(options: SegdOptions): Promise<Segd> {
  if ((options.root === undefined) === (options.origin === undefined)) throw new SegdError('serve either a directory or an origin (--origin), not both', 'ESEGDOPTION');
  const maxBytes = sizeOf(options.cacheSize, 512 * 1024 ** 2);
  const threads = options.threads ?? servingThreads();
  if (!Number.isInteger(threads) || threads < 1) throw new SegdError(`threads must be a whole number ≥ 1, got ${threads}`, 'ESEGDOPTION');
  const origins = options.corsOrigin === undefined ? ['*'] : typeof options.corsOrigin === 'string' ? options.corsOrigin.split(',').map((s) => s.trim()) : [...options.corsOrigin];
  const cors = new CorsPolicy(origins);
  const staticCors = cors.staticHeaders();
  const corsFor = cors.perRequest ? (req: IncomingMessage): string[] => { const o = cors.allowOrigin(req.headers.origin); return o === undefined ? [] : ['Access-Control-Allow-Origin', o]; } : undefined;
  const corsOf = (req: IncomingMessage): readonly string[] => (corsFor === undefined ? staticCors : [...staticCors, ...corsFor(req)]);
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
    readTierFiles: (): number => store.reads.size + (edge?.reads.size ?? 0),
    poolQueueDepth: () => pool.stats.queueSize,
    sigbusRepairs: sigbusFaults,
    nativeHandles,
  });
  pool.onTaskTime = (s) => metrics.poolTaskSeconds.observe(s);
  await pool.ready();

  // The player's own files change with segd releases, not with content: always revalidated.
  const playerRoots: string[] = [];
  // Files from folders: the content root, and the player's page (an edge serves that from here too).
  const store = createFolderStore({
    pool,
    metrics,
    diag,
    cachePolicy,
    staticCors,
    manifest,
    maxBytes: realRoot === undefined ? PLAYER_CACHE : maxBytes,
    validityMs: options.validityMs ?? 1000,
    verify: options.verify ?? true,
    alwaysRevalidate: (file) => playerRoots.some((root) => file.startsWith(root + '/')),
  });

  const edge: EdgeParts | undefined =
    options.origin === undefined
      ? undefined
      : await createEdge(options, { pool, metrics, diag, cachePolicy, staticCors, maxBytes, corsOf }).catch(async (err: unknown) => {
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
    metrics,
    cors,
    corsOf,
    serveFile: folderContent({ ...respondCtx, store, memory: store.memory, corsOf }),
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
        corsOf,
        forward: edge.forward,
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

