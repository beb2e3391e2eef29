/**
 * The memory tier: a byte-bounded LRU of ready objects in front of every other tier, and the
 * check that keeps a send from faulting dropped pages in on the event loop.
 */
import { LRUCache } from 'lru-cache';
import { bytesOf, MAX_VIEW, type Resident, type StoredFile } from './objects.js';

export interface MemoryEvents {
  evict(): void;
  /** A cached object's pages had been dropped by the kernel and were read back in the pool. */
  rewarm(): void;
  /** The re-read failed; the send goes ahead and faults the pages in itself. */
  rewarmFailed(file: string, err: NodeJS.ErrnoException): void;
  /** An object was dropped because its file was truncated under its mapping (it is poisoned). */
  truncated(file: string): void;
  /** Pages read back after the kernel dropped them no longer match the object's checksum (bit rot, or a write behind the page cache): it is dropped. */
  mismatch(file: string): void;
}

export class MemoryTier<E extends Resident> {
  private readonly lru: LRUCache<string, E>;
  private clearing = false;

  constructor(
    readonly maxBytes: number,
    /** Re-reads a file's dropped pages; false when its bytes no longer match its checksum. */
    private readonly warm: (file: StoredFile) => Promise<boolean>,
    private readonly events: Partial<MemoryEvents> = {},
  ) {
    this.lru = new LRUCache<string, E>({
      maxSize: Math.max(1, maxBytes),
      sizeCalculation: (e) => Math.max(1, bytesOf(e.file)),
      // An object leaving the tier may have been handed to a request a moment ago, whose
      // continuation (a microtask) has yet to check residency: its handle is closed after this
      // turn of the event loop, not at once. Its sends need no handle: they slice the object's
      // whole-file view, which holds the mapping itself. An object too large for one view is
      // sliced through the handle for as long as a send lasts, so its handle goes with GC.
      dispose: (e, _key, reason) => {
        const mapping = e.mapping;
        if (mapping !== undefined && !this.clearing && e.file.size <= MAX_VIEW) setImmediate(() => mapping.close());
        if (reason === 'evict') this.events.evict?.();
      },
    });
  }

  /**
   * The object under `key`, unless its mapping is poisoned (its file was truncated under it and
   * its bytes are gone: zero pages where the file's were, whatever the file's stat says now) or
   * its bytes were found changed when dropped pages were read back. Such an object is dropped
   * here, so no tier ever serves it and the next lookup loads (and checks) the file anew.
   */
  get(key: string, now = Date.now()): E | undefined {
    const e = this.lru.get(key);
    if (e === undefined) return undefined;
    e.usedAt = now;
    if (e.mapping?.poisoned !== true && !e.mismatched) return e;
    this.lru.delete(key);
    if (!e.mismatched) this.events.truncated?.(e.file.file);
    return undefined;
  }

  /** Without counting as a use (no change of recency). */
  peek(key: string): E | undefined {
    return this.lru.peek(key);
  }

  /**
   * Keeps `e` if it fits at all. An object bigger than the whole tier is served to the requests
   * that waited for it and then released by GC (the handle's finalizer drops its mapping).
   */
  set(key: string, e: E): void {
    if (bytesOf(e.file) <= this.maxBytes) this.lru.set(key, e);
  }

  delete(key: string): void {
    this.lru.delete(key);
  }

  /**
   * Whether an object of `bytes` that is asked for every `gapMs` deserves a place: the tier has
   * room, or its least recently used object has gone unused for more than twice that gap. A scan
   * of a library larger than the tier (every object asked once per turn) never displaces the
   * tier's objects, which are asked as often; content that turns hot after it was evicted (a
   * popular episode after a scan) comes back within a few requests.
   */
  admits(bytes: number, gapMs: number, now: number): boolean {
    if (bytes > this.maxBytes) return false;
    if (this.lru.calculatedSize + bytes <= this.maxBytes) return true;
    for (const key of this.lru.rkeys()) return now - this.lru.peek(key)!.usedAt > 2 * gapMs;
    return true;
  }

  /** Deletes `key` only while it still holds `e` (a newer object may have replaced it). */
  deleteIf(key: string, e: E): void {
    if (this.lru.peek(key) === e) this.lru.delete(key);
  }

  entries(): IterableIterator<[string, E]> {
    return this.lru.entries();
  }

  get bytes(): number {
    return this.lru.calculatedSize;
  }

  get size(): number {
    return this.lru.size;
  }

  /** At shutdown, when no request is left: every mapping handle is closed at once. */
  clear(): void {
    this.clearing = true;
    for (const e of this.lru.values()) e.mapping?.close();
    this.lru.clear();
    this.clearing = false;
  }

  /**
   * Resolves when [start, start+length) of a mapped object is in RAM. Pages the kernel dropped
   * would otherwise be read from disk inside the socket write, on the event loop; a mincore()
   * is about a microsecond, and the re-read happens in the pool. Returns undefined when resident.
   */
  ensureResident(e: Resident, start: number, length: number): Promise<void> | undefined {
    if (e.mapping === undefined || length === 0 || residentOrGone(e, start, length)) return undefined;
    if (e.warming === undefined) {
      this.events.rewarm?.();
      // A failed re-read only costs speed: the mapping still holds the bytes, and the socket
      // write faults them in itself. Bytes read back that fail the checksum are never sent: the
      // byte path checks `mismatched` once this settles (respond.ts, intact()).
      e.warming = this.warm(e.file)
        .then(
          (same) => {
            if (same) return;
            e.mismatched = true;
            this.events.mismatch?.(e.file.file);
          },
          (err: NodeJS.ErrnoException) => {
            this.events.rewarmFailed?.(e.file.file, err);
          },
        )
        .finally(() => (e.warming = undefined));
    }
    return e.warming;
  }
}

/**
 * mincore() through the handle; an object that left the tier while a request held it across a
 * wait (a revalidation) has a closed handle: its whole-file view still holds the bytes, so the
 * send goes ahead unchecked.
 */
function residentOrGone(e: Resident, start: number, length: number): boolean {
  try {
    return e.mapping!.resident(start, length);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_SEGD_CLOSED') return true;
    throw err;
  }
}
