/**
 * The edge's tiers (memory → disk → origin) composed from options, with their events wired to
 * metrics and diagnostics. The store itself (src/store/edge) knows none of these.
 *
 * In a group of workers (src/store/disk/shared.ts) the filler is composed as a lone edge is, and
 * tells the workers what left its disk; a worker has no origin and no disk of its own: it reads
 * the filler's directory and forwards the rest to it.
 */
import type { IncomingMessage } from 'node:http';
import { basename } from 'node:path';
import type { CachePolicy } from '../http/cache-control.js';
import { cacheControlFor, fallbackFor } from '../http/cache-control.js';
import { edgeKindFor } from '../http/content-type.js';
import type { Metrics } from '../observe/metrics.js';
import type { Diagnostics } from '../observe/log.js';
import type { LoadPool } from '../pool/load-pool.js';
import { MemoryTier } from '../store/memory.js';
import { DiskCache } from '../store/disk/cache.js';
import { SharedDisk, type DiskIndex, type FillerLink, type WorkerLink } from '../store/disk/shared.js';
import { forwarder, type Forward } from '../serve/forward.js';
import { EdgeStore, type EdgeEntry, type EdgeReadEntry } from '../store/edge/edge.js';
import { ReadTier } from '../store/read-tier.js';
import { DEFAULT_ORIGIN, httpTarget, Origin, type Target } from '../store/origin/client.js';
import { parseS3Url, s3Target } from '../store/origin/s3.js';
import { describe, type Representation } from '../serve/representation.js';
import { parseSize } from '../config/size.js';
import { truncatedUnderMapping } from './folder.js';
import { SegdError } from '../config/error.js';
import { writable } from '../store/edge/headers.js';
import type { SegdOptions } from '../segd.js';

export interface EdgeParts {
  readonly store: EdgeStore<Representation>;
  readonly memory: MemoryTier<EdgeEntry<Representation>>;
  readonly reads: ReadTier<EdgeReadEntry<Representation>>;
  /** In a worker of a group: the way to the filler. */
  readonly forward: Forward | undefined;
  close(): Promise<void>;
}

/** The edge's tiers (memory → disk → origin), wired to metrics and diagnostics. */
export async function createEdge(
  options: SegdOptions,
  d: { pool: LoadPool; metrics: Metrics; diag: Diagnostics; cachePolicy: CachePolicy; staticCors: readonly string[]; maxBytes: number; corsOf: (req: IncomingMessage) => readonly string[] },
): Promise<EdgeParts> {
  const { metrics, diag } = d;
  if (options.cacheDir === undefined) throw new SegdError('an origin needs a cache directory (--cache-dir)', 'ESEGDOPTION');
  const worker: WorkerLink | undefined = options.group?.role === 'worker' ? options.group : undefined;
  const filler: FillerLink | undefined = options.group?.role === 'filler' ? options.group : undefined;
  const target = originTarget(options);
  const quota = sizeOf(options.cacheDiskSize, 50 * 1024 ** 3);
  let disk: DiskCache | undefined;
  let store: EdgeStore<Representation> | undefined;
  const origin = worker !== undefined ? undefined : new Origin(target, { ...DEFAULT_ORIGIN, ...options.originOptions }, {
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
    fillBytes: () => store?.fillBytes ?? 0,
    breakerState: () => (origin === undefined ? 0 : { closed: 0, 'half-open': 1, open: 2 }[origin.breaker.state]),
  });
  // Bit rot (or a hand) changed a cache file: what was read is cut short, the object dropped
  // (a cache file is named by its key's hash).
  const corrupt = (file: string, reason: string): void => {
    const hash = basename(file);
    metrics.changedUnderRead.inc();
    m.diskCorrupt.inc();
    diag.limited('error', `corrupt:${hash}`, 'disk cache object failed its check while read, dropped and fetched again', { file, reason });
    void disk?.drop(hash);
  };
  const memory = new MemoryTier<EdgeEntry<Representation>>(d.maxBytes, (file) => d.pool.warm(file), {
    evict: () => metrics.cacheEvictions.inc(),
    rewarm: () => metrics.cacheRewarms.inc(),
    rewarmFailed: (file, err) => diag.limited('warn', `rewarm:${file}`, 'cannot re-read dropped pages', { file, code: err.code, reason: err.message }),
    truncated: (file) => truncatedUnderMapping(diag, file),
    mismatch: (file) => corrupt(file, 'checksum mismatch in pages read back'),
  });
  const reads = new ReadTier<EdgeReadEntry<Representation>>({
    diskRead: (direct) => metrics.diskRead(direct),
    mismatch: (file) => corrupt(file, 'block checksum mismatch'),
  });
  // What left the disk, told to the workers in one message per turn of the event loop.
  let leaving: string[] = [];
  const tellWorkers = (hash: string): void => {
    if (filler === undefined) return;
    if (leaving.length === 0) setImmediate(() => {
      filler.notify({ letGo: leaving });
      leaving = [];
    });
    leaving.push(hash);
  };
  const t0 = performance.now();
  if (worker === undefined) disk = await DiskCache.open(options.cacheDir, quota, {
    evicted: () => m.diskEvictions.inc(),
    removed: (hash) => {
      memory.delete(hash); // its mapping would keep the unlinked file's blocks in use
      reads.delete(hash); // and its descriptor
      tellWorkers(hash); // and theirs
    },
    error: (op, err) => {
      m.diskErrors.inc({ op });
      diag.limited('error', `disk:${op}:${err.code}`, 'disk cache operation failed, serving without the disk', { file: options.cacheDir, code: err.code, reason: err.message });
    },
  });
  const index: DiskIndex = disk ?? new SharedDisk(options.cacheDir, worker!);
  if (disk !== undefined) diag.info('disk cache ready', { file: options.cacheDir, objects: disk.objects, bytes: disk.bytes, quota, ms: Math.round(performance.now() - t0) });
  store = new EdgeStore<Representation>({
    origin,
    disk: index,
    writer: disk,
    memory,
    reads,
    pool: d.pool,
    staleIfError: options.staleIfError ?? 86_400,
    negativeTtlMs: options.negativeTtlMs ?? 10_000,
    maxObjectBytes: sizeOf(options.maxObjectSize, Math.floor(quota / 8)),
    fallbackLifetime: (path, file, ct) => fallbackFor(edgeKindFor(path, ct), file?.playlist, d.cachePolicy),
    describe: (file, meta, path) => {
      const h = meta.headers;
      const extra: string[] = [];
      // Checked again here: a cache written by an older segd may hold a header node:http refuses.
      for (const name of ['expires', 'content-disposition', 'content-language'] as const) if (h[name] !== undefined && writable(name, h[name])) extra.push(name, h[name]);
      return describe(file, {
        cachePolicy: d.cachePolicy,
        corsHeaders: d.staticCors,
        path,
        contentType: h['content-type'],
        lastModified: h['last-modified'] ?? null,
        cacheControl: h['cache-control'] ?? cacheControlFor(edgeKindFor(path, h['content-type']), file.playlist, d.cachePolicy),
        reprDigest: h['repr-digest'],
        extra,
      });
    },
    events: {
      hit: (tier) => metrics.hit(tier),
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
      refreshed: (hash, ino, meta) => filler?.notify({ refreshed: { hash, ino, meta } }),
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
  filler?.onReport((r) => {
    if ('touched' in r) {
      m.groupReports.inc({ kind: 'touched' }, r.touched.length);
      for (const hash of r.touched) disk!.touch(hash);
    } else {
      m.groupReports.inc({ kind: 'dropped' });
      void disk!.drop(r.dropped);
    }
  });
  worker?.onNotice((n) => {
    if ('letGo' in n) for (const hash of n.letGo) edgeStore.letGo(hash);
    else edgeStore.applyMeta(n.refreshed.hash, n.refreshed.ino, n.refreshed.meta);
  });
  const toFiller = worker === undefined ? undefined : forwarder(worker.filler, { metrics, corsOf: d.corsOf });
  return {
    store: edgeStore,
    memory,
    reads,
    forward: toFiller?.forward,
    async close() {
      memory.clear();
      reads.clear();
      edgeStore.clear();
      if (index instanceof SharedDisk) index.close();
      await origin?.close();
      await toFiller?.close();
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


/** A byte count from a number or a size string such as `50GiB`. */
export const sizeOf = (v: number | string | undefined, fallback: number): number => (typeof v === 'string' ? parseSize(v) : (v ?? fallback));
