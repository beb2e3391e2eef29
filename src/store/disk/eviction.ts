/**
 * Which objects leave the disk tier when a fill needs room: the accountant of the byte quota.
 * Pure bookkeeping over keys and sizes; the store owns the files.
 *
 * The quota holds because the policy refuses to be overdrawn: `insert()` throws when the bytes
 * would not fit. A fill calls `evict(size)`, deletes the victims and calls `insert(key, size)` in
 * the same tick, before writing (a reservation; `remove()` if the write fails), so two
 * concurrent fills cannot both count on the same free bytes.
 *
 * S3-FIFO is the default; LRU is here as the baseline it was measured against
 * (bench/eviction.ts, bench/README.md).
 */

export interface EvictionPolicy<K> {
  /**
   * A key newly stored, `size` bytes. Re-inserting a present key replaces its size (an object
   * rewritten) and keeps its place and history. Throws a RangeError when the bytes do not fit:
   * call evict(size) first.
   */
  insert(key: K, size: number): void;
  /** A hit on a stored key (no-op for absent keys). Must be O(1): it runs on every request. */
  touch(key: K): void;
  /** The key left the store for another reason (deleted, corrupt): forget it. */
  remove(key: K): void;
  /**
   * Victims, in policy order, whose removal makes used + incoming ≤ capacity; they are removed
   * from the policy. Returns [] when nothing needs to go; evicts everything if incoming > capacity.
   */
  evict(incoming: number): K[];
  /**
   * Rebuilds an empty policy after a restart from what is on disk, without access history:
   * `entries` oldest first (by the files' times), so the oldest go first. Returns the victims
   * when they no longer fit (the quota was lowered). Throws if the policy is not empty.
   */
  restore(entries: Iterable<readonly [K, number]>): K[];
  has(key: K): boolean;
  /** Bytes of stored keys. */
  readonly used: number;
  readonly count: number;
  readonly capacity: number;
}

/** A stored key in one queue: a doubly linked node, so unlinking from the middle is O(1). */
class Entry<K> {
  /** Towards the newest end. */
  prev: Entry<K> | undefined = undefined;
  /** Towards the oldest end. */
  next: Entry<K> | undefined = undefined;
  /** Set by Queue.push, which every stored entry has been through. */
  queue!: Queue<K>;
  /** S3-FIFO's 2-bit access counter (0..3); unused by LRU. */
  freq = 0;
  constructor(
    readonly key: K,
    public size: number,
  ) {}
}

/** A queue of entries that knows its bytes: new entries at the head, victims from the tail. */
class Queue<K> {
  private newest: Entry<K> | undefined = undefined;
  oldest: Entry<K> | undefined = undefined;
  bytes = 0;

  push(e: Entry<K>): void {
    e.queue = this;
    e.next = this.newest;
    if (this.newest) this.newest.prev = e;
    else this.oldest = e;
    this.newest = e;
    this.bytes += e.size;
  }

  unlink(e: Entry<K>): void {
    if (e.prev) e.prev.next = e.next;
    else this.newest = e.next;
    if (e.next) e.next.prev = e.prev;
    else this.oldest = e.prev;
    e.prev = e.next = undefined;
    this.bytes -= e.size;
  }

  resize(e: Entry<K>, size: number): void {
    this.bytes += size - e.size;
    e.size = size;
  }
}

/**
 * Keys recently evicted from S3-FIFO's small queue, with their sizes and no data, bounded in
 * bytes like libCacheSim's ghost FIFO. An array with a moving head rather than a Map's insertion
 * order: V8 leaves deleted Map entries as holes that a fresh iterator walks again, which would
 * make every "oldest" lookup linear. A key taken out early leaves a stale slot, recognised by its
 * sequence number and skipped when it reaches the head.
 */
class Ghost<K> {
  private keys: K[] = [];
  private sizes: number[] = [];
  private head = 0;
  /** Sequence number of keys[0]. */
  private base = 0;
  private readonly seqOf = new Map<K, number>();
  private bytes = 0;

  constructor(private readonly capacity: number) {}

  /** Over the bound until the next trim(), so the fill that evicted can still find its own key. */
  add(key: K, size: number): void {
    if (size > this.capacity) return;
    this.seqOf.set(key, this.base + this.keys.length);
    this.keys.push(key);
    this.sizes.push(size);
    this.bytes += size;
  }

  trim(): void {
    while (this.bytes > this.capacity) this.dropOldest();
  }

  /** True if the key was remembered; it is forgotten either way. */
  take(key: K): boolean {
    const seq = this.seqOf.get(key);
    if (seq === undefined) return false;
    this.seqOf.delete(key);
    this.bytes -= this.sizes[seq - this.base]!;
    return true;
  }

  private dropOldest(): void {
    for (;;) {
      const key = this.keys[this.head]!;
      const seq = this.base + this.head++;
      const live = this.seqOf.get(key) === seq;
      if (live) {
        this.seqOf.delete(key);
        this.bytes -= this.sizes[seq - this.base]!;
      }
      if (this.head > 1024 && this.head * 2 > this.keys.length) {
        this.keys = this.keys.slice(this.head);
        this.sizes = this.sizes.slice(this.head);
        this.base += this.head;
        this.head = 0;
      }
      if (live) return;
    }
  }
}

function checkBytes(what: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${what} must be a whole number of bytes ≥ 0, not ${n}`);
}

/**
 * Throws unless `size` fits with `others` bytes already stored: an overdraft is a bug in the
 * caller (no evict() first, or two fills sharing one evict()), never something to absorb.
 */
function checkRoom(size: number, others: number, capacity: number): void {
  checkBytes('size', size);
  if (others + size > capacity) {
    throw new RangeError(`no room for ${size} bytes: ${others} of ${capacity} are used (call evict(${size}) first)`);
  }
}

/**
 * What both policies share: the key index, the quota checks, and insert/restore, which differ
 * only in the queue a new key enters (`admit`).
 */
abstract class SizedPolicy<K> implements EvictionPolicy<K> {
  protected readonly entries = new Map<K, Entry<K>>();

  constructor(readonly capacity: number) {
    checkBytes('capacity', capacity);
  }

  abstract get used(): number;
  abstract touch(key: K): void;
  abstract remove(key: K): void;
  abstract evict(incoming: number): K[];
  /** Links a new entry into the queue it starts in. */
  protected abstract admit(e: Entry<K>): void;
  /** The queue a restored entry starts in (no access history survives a restart). */
  protected abstract restored(): Queue<K>;

  get count(): number {
    return this.entries.size;
  }

  has(key: K): boolean {
    return this.entries.has(key);
  }

  insert(key: K, size: number): void {
    const present = this.entries.get(key);
    if (present) {
      checkRoom(size, this.used - present.size, this.capacity);
      present.queue.resize(present, size);
      return;
    }
    checkRoom(size, this.used, this.capacity);
    const e = new Entry(key, size);
    this.entries.set(key, e);
    this.admit(e);
  }

  restore(entries: Iterable<readonly [K, number]>): K[] {
    if (this.entries.size > 0) throw new Error('restore() rebuilds an empty policy');
    const queue = this.restored();
    for (const [key, size] of entries) {
      checkBytes('size', size);
      this.remove(key);
      const e = new Entry(key, size);
      this.entries.set(key, e);
      queue.push(e);
    }
    return this.evict(0);
  }
}

/**
 * S3-FIFO (Yang, Zhang, Qiu, Yue, Vinayak: "FIFO queues are all you need for cache eviction",
 * SOSP 2023, §4.1), by bytes, after the authors' libCacheSim S3FIFO.c as of the paper's artifact
 * (Thesys-lab/sosp23-s3fifo): a small FIFO S (10% of the bytes) that new keys enter, a main FIFO
 * M (the rest) with a 2-bit counter per key and reinsertion (CLOCK), and a ghost G of keys
 * evicted from S that sends them straight to M when they come back.
 *
 * Why it suits segments: most objects of a skewed workload are requested once within a cache
 * lifetime (abandoned views, crawlers, prefetch), and S evicts them after a tenth of the cache
 * has passed instead of a whole cache's worth, while M only reorders at eviction time, so a hit
 * is one counter bump.
 *
 * libCacheSim looks the key up in G when the request misses, before evicting for it; here
 * insert() comes after evict(), so G is trimmed to its bound only in insert() (and the next
 * evict()), after the lookup: the same keys stay in G, and the keys a fill pushed into G cannot
 * push out the fill's own ghost entry.
 *
 * Where it differs from libCacheSim, deliberately:
 * - libCacheSim refuses objects of at least S's bytes (`can_insert`); here admission is the
 *   store's decision and such an object passes through S like any other. With S a tenth of a
 *   disk quota (GiBs) against 10 MB segments, the case is theoretical.
 * - The counter saturates at 3 on touch() rather than on reinsertion (`MIN(freq, 3) - 1`): the
 *   same decisions, in two bits.
 * - libCacheSim's later S3FIFO.c (Dec 2024) sends new keys to M while the cache is filling for
 *   the first time. Not adopted: it is not in the paper, and it shapes only the first fill (half
 *   a point of byte hits at most in bench/eviction.ts, whose first fill is much of the trace).
 */
export class S3Fifo<K> extends SizedPolicy<K> {
  private readonly small = new Queue<K>();
  private readonly main = new Queue<K>();
  private readonly ghost: Ghost<K>;
  private readonly mainCapacity: number;

  /**
   * `smallShare`: S's share of the bytes (0.1, the paper's choice across its traces).
   * `ghostShare`: G's bound, in bytes of the keys it remembers, as a share of capacity; by
   * default M's share, the paper's "as many ghost entries as M" (libCacheSim: 0.9 and 0.1).
   */
  constructor(capacity: number, opts: { smallShare?: number; ghostShare?: number } = {}) {
    super(capacity);
    const smallShare = opts.smallShare ?? 0.1;
    const ghostShare = opts.ghostShare ?? 1 - smallShare;
    if (!(smallShare >= 0 && smallShare <= 1)) throw new RangeError(`smallShare must be in [0, 1], not ${smallShare}`);
    if (!(ghostShare >= 0)) throw new RangeError(`ghostShare must be ≥ 0, not ${ghostShare}`);
    // Truncated as libCacheSim does: (int64_t)(cache_size * ratio).
    this.mainCapacity = capacity - Math.floor(capacity * smallShare);
    this.ghost = new Ghost(Math.floor(capacity * ghostShare));
  }

  get used(): number {
    return this.small.bytes + this.main.bytes;
  }

  protected admit(e: Entry<K>): void {
    // §4.1: "New objects are inserted into S if not in G. Otherwise, it is inserted into M."
    (this.ghost.take(e.key) ? this.main : this.small).push(e);
    this.ghost.trim();
  }

  /**
   * Into M with no credit. Nine tenths of these bytes were in M, kept for their hits, and which
   * ones is lost: in M they all stay until M needs room and go oldest first unless hit again
   * (S's last one-hit keys with them); in S, new fills would flush them all in turn.
   */
  protected restored(): Queue<K> {
    return this.main;
  }

  touch(key: K): void {
    const e = this.entries.get(key);
    if (e !== undefined && e.freq < 3) e.freq++;
  }

  remove(key: K): void {
    const e = this.entries.get(key);
    if (e === undefined) {
      this.ghost.take(key);
      return;
    }
    this.entries.delete(key);
    e.queue.unlink(e);
  }

  evict(incoming: number): K[] {
    checkBytes('incoming', incoming);
    this.ghost.trim();
    const victims: K[] = [];
    while (this.used + incoming > this.capacity && this.entries.size > 0) {
      // libCacheSim's choice (S3FIFO_evict): M when it is over its share or S is empty, else S.
      if (this.main.bytes > this.mainCapacity || this.small.oldest === undefined) this.evictMain(victims);
      else this.evictSmall(victims);
    }
    return victims;
  }

  /** libCacheSim's S3FIFO_evict_fifo: promote what was hit, until one key goes, to G. */
  private evictSmall(victims: K[]): void {
    for (let e = this.small.oldest; e !== undefined; e = this.small.oldest) {
      this.small.unlink(e);
      // §4.1: "moved to M if it is accessed more than once or G if not. And its access bits are
      // cleared during the move." libCacheSim: move-to-main-threshold=2. (The diagram in the
      // artifact's README says "if not visited, insert to ghost"; the text and the code say twice.)
      if (e.freq > 1) {
        e.freq = 0;
        this.main.push(e);
      } else {
        this.entries.delete(e.key);
        this.ghost.add(e.key, e.size);
        victims.push(e.key);
        return;
      }
    }
  }

  /** libCacheSim's S3FIFO_evict_main: reinsert what was hit with one count less, until one key goes. */
  private evictMain(victims: K[]): void {
    for (let e = this.main.oldest; e !== undefined; e = this.main.oldest) {
      this.main.unlink(e);
      if (e.freq > 0) {
        e.freq--;
        this.main.push(e);
      } else {
        this.entries.delete(e.key);
        victims.push(e.key);
        return;
      }
    }
  }
}

/** Least recently used first: the baseline S3-FIFO was measured against. */
export class Lru<K> extends SizedPolicy<K> {
  /** Most recently used at the head. */
  private readonly order = new Queue<K>();

  get used(): number {
    return this.order.bytes;
  }

  protected admit(e: Entry<K>): void {
    this.order.push(e);
  }

  /** Oldest first is least recently used first. */
  protected restored(): Queue<K> {
    return this.order;
  }

  touch(key: K): void {
    const e = this.entries.get(key);
    if (e === undefined) return;
    this.order.unlink(e);
    this.order.push(e);
  }

  remove(key: K): void {
    const e = this.entries.get(key);
    if (e === undefined) return;
    this.entries.delete(key);
    this.order.unlink(e);
  }

  evict(incoming: number): K[] {
    checkBytes('incoming', incoming);
    const victims: K[] = [];
    for (let e = this.order.oldest; e !== undefined && this.used + incoming > this.capacity; e = this.order.oldest) {
      this.order.unlink(e);
      this.entries.delete(e.key);
      victims.push(e.key);
    }
    return victims;
  }
}
