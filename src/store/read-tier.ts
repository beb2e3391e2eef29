/**
 * The read tier: objects that left the memory tier (or never fitted in it) but whose facts and
 * block checksums are known, served by reading their file, like nginx's sendfile path but with
 * every byte checked. A request reads only the 64 KiB blocks its range touches, into recycled
 * buffers, with preadv2(RWF_NOWAIT) on the event loop (bytes in the page cache are copied at
 * once; only what is on the disk is read through libuv's pool), and checks each block against its
 * CRC32C before it is sent. So the bytes sent are always bytes that were checksummed: a file
 * rewritten in place under a response cuts it short instead of mixing old and new bytes under
 * one ETag, and a 5 GB file costs a range what the range costs, not a load of the whole file.
 *
 * A read from the disk goes through the page cache, unless the object's pages were evicted
 * within RECACHE_MS of its last pass through it: then the page cache cannot keep what this tier
 * reads (a library far larger than memory, read in a scan), and caching it again would only cost
 * a copy, page allocations and reclaim, so the read bypasses it (O_DIRECT, into page-aligned
 * buffers from the addon). Hot objects are kept by the memory tier, not by this one.
 */
import { close, constants, fstat, open, read } from 'node:fs';
import { LRUCache } from 'lru-cache';
import { native } from '../native/index.js';
import { BLOCK, blocksMatch } from './blocks.js';
import type { ObjectFacts, StoredFile } from './objects.js';

/** What a read tier object needs of the file: its facts and block table. */
export type ReadFacts = ObjectFacts & { readonly blocks: Uint32Array };

/** Bytes read per step: whole blocks, at most this many (one recycled buffer). */
const CHUNK = 16 * BLOCK;
/** Recycled buffers kept for later reads; beyond it a finished buffer is left to GC. */
const SPARE_BUFFERS = 64;
/** How long a retired entry's descriptor stays open at least (see ReadEntry.retire). */
const RETIRE_GRACE_MS = 1000;
/** An object evicted from the page cache this soon after it was last cached there is read past it. */
export const RECACHE_MS = 60_000;
/** What O_DIRECT needs aligned: the buffer's address, the file offset and the length (see alignedBuffer). */
const DIRECT_ALIGN = 4096;
/** Open descriptors (one per object) the tier keeps, like nginx's open_file_cache max. */
export const READ_TIER_FILES = 8192;

/** A verified piece of the requested range; `release()` once the socket has taken it. */
export interface Chunk {
  readonly bytes: Buffer;
  release(): void;
}

export interface ReadEvents {
  /** Part of a read was not in the page cache and went to the disk off the event loop; `direct`: past the page cache. */
  diskRead(direct: boolean): void;
  /** The file's bytes no longer match their checksums (rewritten in place, or bit rot); `slot` is the entry's key in the tier. */
  mismatch(file: string, slot: string): void;
}

/** What an entry asks of its tier. */
interface TierServices {
  readonly events: Partial<ReadEvents>;
  /** Whether buffer() gives page-aligned buffers, which O_DIRECT reads need. */
  readonly aligned: boolean;
  buffer(): Buffer;
  recycle(buf: Buffer): void;
  mismatch(e: ReadEntry<unknown>): void;
  deleteIf(slot: string, e: ReadEntry<unknown>): void;
}

/** The file under `entry` changed while it was read: the response is cut short. */
export class ChangedError extends Error {
  readonly code = 'ESEGDCHANGED';
}

export class ReadEntry<R> {
  checkedAt: number;
  /** When a request last used it (ms), for the memory tier's admission (MemoryTier.admits). */
  usedAt: number;
  revalidating: Promise<ReadEntry<R> | undefined> | undefined;
  private fd: Promise<number> | undefined;
  /** The O_DIRECT descriptor, opened on the first read past the page cache; undefined inside if the file system refuses O_DIRECT. */
  private directFd: Promise<number | undefined> | undefined;
  /** When the object's bytes last went through the page cache (its load, or a buffered read). */
  private cachedAt: number;
  private users = 0;
  private closed = false;
  private retiredAt = 0;

  /**
   * `slot`: the entry's key in its tier; `file.file` is the file read, whose first `file.size`
   * bytes are the object and whose stat size is `statSize` (a cache file has a trailer after them).
   */
  constructor(
    readonly slot: string,
    readonly file: ReadFacts,
    public rep: R,
    private readonly tier: TierServices,
    private readonly statSize = file.size,
  ) {
    this.checkedAt = this.usedAt = this.cachedAt = Date.now();
  }

  /** Counts a use; true when the memory tier should take the object back (it turned hot). */
  hotterThan(memory: { admits(bytes: number, gapMs: number, now: number): boolean }): boolean {
    const now = Date.now();
    const gap = now - this.usedAt;
    this.usedAt = now;
    return memory.admits(this.file.size, gap, now);
  }

  /** Verified bytes of [start, start + length), chunk by chunk. Throws ChangedError if they do not match. */
  async *chunks(start: number, length: number): AsyncGenerator<Chunk> {
    this.users++;
    try {
      const fd = await this.open();
      const end = start + length;
      const stop = Math.min(this.file.size, Math.ceil(end / BLOCK) * BLOCK); // whole blocks only
      // Decided at the read's first disk step and kept for the rest: once a step went back
      // through the page cache, the next must not take that for a sign the cache cannot keep it.
      let past: boolean | undefined;
      for (let at = start - (start % BLOCK); at < end; at += CHUNK) {
        const want = Math.min(CHUNK, stop - at);
        const buf = this.tier.buffer();
        let got = native.readAt(fd, buf.subarray(0, want), at, true);
        if (got < want) got = await this.fromDisk(fd, buf, got, want, at, (past ??= this.pastPageCache()));
        const bytes = buf.subarray(0, got);
        if (got !== want || !blocksMatch(bytes, at / BLOCK, this.file.blocks, this.file.size, native.crc32c)) {
          this.tier.mismatch(this);
          throw new ChangedError(`${this.file.file} changed while it was read`);
        }
        const from = Math.max(start, at) - at;
        let released = false; // a buffer recycled twice would be handed to two reads at once
        const release = (): void => {
          if (!released) this.tier.recycle(buf);
          released = true;
        };
        yield { bytes: bytes.subarray(from, Math.min(end - at, want)), release };
      }
    } finally {
      this.users--;
      if (this.closed) this.closeIfIdle();
    }
  }

  /** Whether a read that must go to the disk goes past the page cache: it could not keep the object (see the top); if not, the object passes through it now. */
  private pastPageCache(): boolean {
    const now = Date.now();
    if (this.tier.aligned && now - this.cachedAt < RECACHE_MS) return true;
    this.cachedAt = now;
    return false;
  }

  /** Reads the rest of buf[0, want) (the file from `at`) from the disk, `past` the page cache or through it; returns the bytes now in buf. */
  private async fromDisk(fd: number, buf: Buffer, got: number, want: number, at: number, past: boolean): Promise<number> {
    const direct = past ? await this.openDirect(fd) : undefined;
    this.tier.events.diskRead?.(direct !== undefined);
    if (direct === undefined) return got + (await readFully(fd, buf, got, want - got, at + got));
    // The whole step again (bytes of a partial RWF_NOWAIT read need not end on an aligned offset),
    // rounded up to an aligned length (within buf: CHUNK is a multiple); past the object, a cache
    // file's trailer may follow.
    const aligned = Math.ceil(want / DIRECT_ALIGN) * DIRECT_ALIGN;
    return Math.min(want, await readFully(direct, buf, 0, aligned, at));
  }

  /** The bytes of [start, start + length) in one new Buffer (for multipart bodies). */
  async bytes(start: number, length: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(length);
    let at = 0;
    for await (const c of this.chunks(start, length)) {
      c.bytes.copy(out, at);
      at += c.bytes.length;
      c.release();
    }
    return out;
  }

  /** Whether the file can be read (its descriptor opens and is the file the facts describe); if not, the entry leaves the tier. */
  async usable(): Promise<boolean> {
    try {
      await this.open();
      return true;
    } catch {
      this.fd = undefined;
      this.tier.deleteIf(this.slot, this);
      return false;
    }
  }

  /**
   * Dropped from the tier: its descriptor is closed once no read is using it, and not before
   * RETIRE_GRACE_MS: a request that found the entry usable a moment ago (an eviction can fall
   * between that check and its first read) must still find the descriptor open, since the file
   * itself may be gone (an evicted cache file is unlinked).
   */
  retire(): void {
    this.closed = true;
    this.retiredAt = Date.now();
    setTimeout(() => this.closeIfIdle(), RETIRE_GRACE_MS + 10).unref(); // (+10: never a hair early)
  }

  /**
   * An O_DIRECT descriptor of the file `fd` has open (reopened through /proc, so it is the same
   * file even if its path was since renamed over or unlinked), or undefined where that cannot be
   * had (no O_DIRECT on the file system, as on tmpfs; no /proc): then reads stay buffered.
   */
  private openDirect(fd: number): Promise<number | undefined> {
    this.directFd ??= new Promise((resolve) => open(`/proc/self/fd/${fd}`, constants.O_RDONLY | constants.O_DIRECT, (err, n) => resolve(err ? undefined : n)));
    return this.directFd;
  }

  /** The descriptor, opened on first use and checked to be the very file the facts describe. */
  private open(): Promise<number> {
    this.fd ??= new Promise<number>((resolve, reject) => {
      open(this.file.file, 'r', (err, fd) => {
        if (err) return reject(err);
        fstat(fd, (e, st) => {
          if (e === null && st.ino === this.file.ino && st.size === this.statSize && st.mtimeMs === this.file.mtimeMs) return resolve(fd);
          close(fd, () => {});
          reject(e ?? new ChangedError(`${this.file.file} changed since it was checked`));
        });
      });
    });
    return this.fd;
  }

  private closeIfIdle(): void {
    if (this.users > 0 || Date.now() - this.retiredAt < RETIRE_GRACE_MS) return;
    for (const fd of [this.fd, this.directFd]) {
      fd?.then(
        (n) => n !== undefined && close(n, () => {}),
        () => {},
      );
    }
    this.fd = this.directFd = undefined;
  }
}

/** The facts of a loaded object the read tier can serve: one with a block table, not a playlist (those stay in memory). */
export function readFacts(f: StoredFile): ReadFacts | undefined {
  if (f.blocks === undefined || f.playlist !== undefined) return undefined;
  // Facts only: the stored file's view() would hold its mapping for as long as the entry lives.
  return { file: f.file, size: f.size, mtimeMs: f.mtimeMs, ino: f.ino, crc32c: f.crc32c, blocks: f.blocks, playlist: undefined, gzip: undefined, br: undefined };
}

export class ReadTier<E extends ReadEntry<unknown>> implements TierServices {
  private readonly lru: LRUCache<string, E>;
  private readonly spare: Buffer[] = [];
  readonly aligned: boolean;

  constructor(
    readonly events: Partial<ReadEvents> = {},
    maxFiles = READ_TIER_FILES,
  ) {
    this.lru = new LRUCache<string, E>({ max: maxFiles, dispose: (e) => e.retire() });
    const first = native.alignedBuffer(CHUNK);
    this.aligned = first !== undefined;
    if (first !== undefined) this.spare.push(first);
  }

  get(slot: string): E | undefined {
    return this.lru.get(slot);
  }

  set(e: E): void {
    this.lru.set(e.slot, e);
  }

  delete(slot: string): void {
    this.lru.delete(slot);
  }

  /** Deletes `slot` only while it still holds `e`. */
  deleteIf(slot: string, e: ReadEntry<unknown>): void {
    if (this.lru.peek(slot) === e) this.lru.delete(slot);
  }

  entries(): IterableIterator<[string, E]> {
    return this.lru.entries();
  }

  get size(): number {
    return this.lru.size;
  }

  clear(): void {
    this.lru.clear();
  }

  /** A CHUNK-sized buffer, recycled when one is free: new ones would be new external memory, and V8 runs a full GC every 64 MiB of that. */
  buffer(): Buffer {
    return this.spare.pop() ?? (this.aligned ? native.alignedBuffer(CHUNK)! : Buffer.allocUnsafeSlow(CHUNK));
  }

  recycle(buf: Buffer): void {
    if (this.spare.length < SPARE_BUFFERS) this.spare.push(buf);
  }

  mismatch(e: ReadEntry<unknown>): void {
    this.deleteIf(e.slot, e);
    this.events.mismatch?.(e.file.file, e.slot);
  }
}

/** pread through libuv's pool until `length` bytes are read or the file ends. */
function readFully(fd: number, buf: Buffer, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let done = 0;
    const step = (): void =>
      read(fd, buf, offset + done, length - done, position + done, (err, n) => {
        if (err) return reject(err);
        done += n;
        if (n === 0 || done === length) resolve(done);
        else step();
      });
    step();
  });
}
