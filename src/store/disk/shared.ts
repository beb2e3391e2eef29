/**
 * One disk cache for a group of worker processes (`--workers` with `--origin`).
 *
 * One process, the group's filler (the primary, src/cli/serve.ts), owns the directory: it alone
 * fetches from the origin, writes, commits, evicts and keeps the quota, so there is one fill per
 * object for the whole group and one index that the quota is counted against. The workers read
 * the same directory: a cache file is only ever created whole by a rename and is immutable after
 * it, so any process may open, check and serve it. A worker answers what it finds fresh there
 * itself and forwards everything else (misses, stale objects, refusals) to the filler over HTTP,
 * as one edge asks another.
 *
 * What crosses between them (src/server/cluster.ts carries it):
 *   worker → filler   hits, for the eviction policy's frequency count (batched), and objects a
 *                     worker found corrupt
 *   filler → workers  objects to let go (evicted, replaced, dropped: a worker's mapping or open
 *                     descriptor would keep the blocks of an unlinked file in use) and new headers
 *                     from a revalidation (a 304 is not written to the file)
 */
import type { CachedMeta } from './format.js';
import { objectPath } from './format.js';

/** What the edge store asks of the disk it reads objects from: a DiskCache, or a worker's view of the filler's. */
export interface DiskIndex {
  has(hash: string): boolean;
  /** A hit: for the eviction policy's frequency count. */
  touch(hash: string): void;
  /** Removes an object whose bytes or trailer were wrong. */
  drop(hash: string): Promise<void>;
  /** The index listed an object whose file is not there. */
  lost(hash: string): void;
  pathOf(hash: string): string;
}

/** What a worker tells the filler; `touched` lists an object's hash once per hit (at most MAX_COUNT times a batch). */
export type DiskReport = { readonly touched: readonly string[] } | { readonly dropped: string };
/** What the filler tells every worker. */
export type DiskNotice = { readonly letGo: readonly string[] } | { readonly refreshed: { readonly hash: string; readonly ino: number; readonly meta: CachedMeta } };

/** The filler's end of the group's link. */
export interface FillerLink {
  readonly role: 'filler';
  notify(n: DiskNotice): void;
  onReport(f: (r: DiskReport) => void): void;
}

/** A worker's end: the filler's address, and the messages. */
export interface WorkerLink {
  readonly role: 'worker';
  /** The filler's HTTP address, e.g. `http://127.0.0.1:40123`. */
  readonly filler: string;
  report(r: DiskReport): void;
  onNotice(f: (n: DiskNotice) => void): void;
}

export type GroupLink = FillerLink | WorkerLink;

/** Hits are sent in batches this often. */
const TOUCH_FLUSH_MS = 1000;
/** Distinct objects remembered between two batches; more are not counted (the policy's count is capped low anyway). */
const MAX_TOUCHED = 16_384;
/**
 * Hits counted per object per batch: S3-FIFO's own cap (eviction.ts). The count matters: the
 * policy keeps a new object only if it was hit twice, and a batch that said just "hit" made an
 * object hit four times in a second, all on one worker, look like a one-hit wonder.
 */
const MAX_COUNT = 3;

/** A worker's view of the filler's disk cache. */
export class SharedDisk implements DiskIndex {
  /** Hits since the last batch, per object. */
  private touched = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly root: string,
    private readonly link: WorkerLink,
  ) {
    this.timer = setInterval(() => this.flush(), TOUCH_FLUSH_MS).unref();
  }

  /** Always worth a look: the filler's index is the truth, and a file that is not there is found missing when it is opened. */
  has(_hash: string): boolean {
    return true;
  }

  touch(hash: string): void {
    const n = this.touched.get(hash);
    if (n === undefined) {
      if (this.touched.size < MAX_TOUCHED) this.touched.set(hash, 1);
    } else if (n < MAX_COUNT) this.touched.set(hash, n + 1);
  }

  drop(hash: string): Promise<void> {
    this.link.report({ dropped: hash });
    return Promise.resolve();
  }

  /** Nothing to correct: this view lists nothing. */
  lost(_hash: string): void {}

  pathOf(hash: string): string {
    return objectPath(this.root, hash);
  }

  close(): void {
    clearInterval(this.timer);
    this.flush();
  }

  private flush(): void {
    if (this.touched.size === 0) return;
    const touched: string[] = [];
    for (const [hash, n] of this.touched) for (let i = 0; i < n; i++) touched.push(hash);
    this.link.report({ touched });
    this.touched = new Map();
  }
}
