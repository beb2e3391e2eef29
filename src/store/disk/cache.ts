/**
 * The disk tier's bookkeeping: which objects are on disk and how many bytes they take, space
 * reserved by fills in progress, eviction, and the atomic commit of a finished fill. Reading and
 * writing object bytes happens elsewhere (the pool loads, edge/fill.ts writes); this module owns
 * the directory and the quota.
 *
 *     DIR/data/ab/<sha-256 of the key>   objects (format.ts), only ever created by rename
 *     DIR/tmp/<random>                   fills in progress; emptied at start (a kill -9 mid-fill)
 *
 * The quota holds at every instant: a fill reserves its bytes before it writes them (all of them
 * when the origin sends a Content-Length, step by step otherwise), and reserving evicts until
 * committed plus reserved bytes fit. Sizes are counted in whole 4 KiB blocks, so the quota bounds
 * what the files really take on disk, not only their lengths. The index is rebuilt at start from
 * the directory alone (names and sizes; no file is opened), so a start costs one readdir per
 * directory and one stat per object.
 */
import { readdirSync, statSync } from 'node:fs';
import { mkdir, rename, rm, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { objectPath } from './format.js';
import { S3Fifo, type EvictionPolicy } from './eviction.js';
import type { DiskIndex } from './shared.js';

const BLOCK = 4096;
const HASH_NAME = /^[0-9a-f]{64}$/;

/** Bytes a file of `size` takes on disk, in whole blocks. */
export const blocks = (size: number): number => Math.ceil(size / BLOCK) * BLOCK;

export interface DiskEvents {
  evicted(hash: string): void;
  /** An object left the disk, evicted or dropped. */
  removed(hash: string): void;
  /** A disk operation failed: the object is served without the disk (see edge/fill.ts). */
  error(op: 'write' | 'commit' | 'unlink' | 'scan', err: NodeJS.ErrnoException): void;
}

export class Reservation {
  constructor(
    private readonly cache: DiskCache,
    public bytes: number,
  ) {}

  /** Reserves `n` more bytes; false when the object can no longer fit the quota at all. */
  grow(n: number): Promise<boolean> {
    return this.cache.grow(this, n);
  }

  release(): void {
    this.cache.release(this);
  }
}

export class DiskCache implements DiskIndex {
  private readonly policy: EvictionPolicy<string>;
  private reserved = 0;

  private constructor(
    readonly root: string,
    readonly maxBytes: number,
    private readonly events: Partial<DiskEvents>,
  ) {
    this.policy = new S3Fifo<string>(maxBytes);
  }

  static async open(root: string, maxBytes: number, events: Partial<DiskEvents> = {}): Promise<DiskCache> {
    const cache = new DiskCache(root, maxBytes, events);
    await rm(join(root, 'tmp'), { recursive: true, force: true }); // fills a crash left behind
    await mkdir(join(root, 'tmp'), { recursive: true });
    const dirs = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
    await Promise.all(dirs.map((d) => mkdir(join(root, 'data', d), { recursive: true })));
    await cache.scan(dirs);
    return cache;
  }

  /**
   * Objects found on disk, oldest first into the policy (no access history survives a restart).
   * Synchronous on purpose: it runs once, before the server listens, and a stat per object on
   * libuv's four threads took ten times as long as these calls in a row (bench/disk-index.ts).
   */
  private async scan(dirs: readonly string[]): Promise<void> {
    const found: { hash: string; size: number; mtimeMs: number }[] = [];
    for (const d of dirs) {
      const dir = join(this.root, 'data', d);
      for (const name of readdirSync(dir)) {
        if (!HASH_NAME.test(name) || name.slice(0, 2) !== d) continue; // not ours: left alone
        const st = statSync(join(dir, name), { throwIfNoEntry: false });
        if (st?.isFile()) found.push({ hash: name, size: st.size, mtimeMs: st.mtimeMs });
      }
    }
    found.sort((a, b) => a.mtimeMs - b.mtimeMs);
    // Victims when the quota shrank since the last run.
    await this.unlinkAll(this.policy.restore(found.map((f) => [f.hash, blocks(f.size)] as const)));
  }

  pathOf(hash: string): string {
    return objectPath(this.root, hash);
  }

  has(hash: string): boolean {
    return this.policy.has(hash);
  }

  /** A hit: for the eviction policy's frequency count. */
  touch(hash: string): void {
    this.policy.touch(hash);
  }

  /** Room for `bytes`, evicting as needed; undefined when more than the whole quota is asked. */
  async reserve(bytes: number): Promise<Reservation | undefined> {
    const r = new Reservation(this, 0);
    return (await this.grow(r, bytes)) ? r : undefined;
  }

  /** @internal Reservation.grow */
  async grow(r: Reservation, n: number): Promise<boolean> {
    const need = blocks(n);
    if (this.reserved + need > this.maxBytes) return false; // cannot fit even with the cache emptied
    const victims = this.policy.evict(this.reserved + need);
    this.reserved += need;
    r.bytes += need;
    await this.unlinkAll(victims);
    return true;
  }

  /** @internal Reservation.release */
  release(r: Reservation): void {
    this.reserved -= r.bytes;
    r.bytes = 0;
  }

  /** A new temporary file's path for a fill. */
  tempPath(): string {
    return join(this.root, 'tmp', randomBytes(12).toString('hex'));
  }

  /**
   * Moves a complete, checked fill into place (atomically replacing an older version of the
   * object) and accounts its real size in place of its reservation.
   */
  async commit(r: Reservation, temp: string, hash: string, size: number): Promise<void> {
    try {
      await rename(temp, this.pathOf(hash));
    } catch (err) {
      this.events.error?.('commit', err as NodeJS.ErrnoException);
      r.release();
      await unlink(temp).catch(() => undefined);
      throw err;
    }
    // The reservation covered the whole file, so its bytes fit where the reservation was.
    r.release();
    this.policy.insert(hash, blocks(size)); // replaces the old version's size, if any
  }

  /** The file of an indexed object is gone (removed by hand): the index forgets it. */
  lost(hash: string): void {
    this.policy.remove(hash);
  }

  /** Removes an object (bit rot, a torn file, a 404 from the origin). */
  async drop(hash: string): Promise<void> {
    this.policy.remove(hash);
    this.events.removed?.(hash);
    await unlink(this.pathOf(hash)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') this.events.error?.('unlink', err);
    });
  }

  get bytes(): number {
    return this.policy.used;
  }

  get objects(): number {
    return this.policy.count;
  }

  private async unlinkAll(hashes: readonly string[]): Promise<void> {
    await Promise.all(
      hashes.map(async (hash) => {
        this.events.evicted?.(hash);
        this.events.removed?.(hash);
        await unlink(this.pathOf(hash)).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') this.events.error?.('unlink', err);
        });
      }),
    );
  }
}
