/**
 * The edge store: one object store with three tiers, memory → disk → origin, and the HTTP caching
 * rules between them (RFC 9111 with RFC 5861). Each request for a cache key gets one answer:
 *
 *   a ready object (memory, or loaded from disk into memory)   fresh, or stale within
 *                                                               stale-while-revalidate (revalidated
 *                                                               in the background), or stale and
 *                                                               revalidated first
 *   a fill in progress (fill.ts)                               a miss, or a revalidation that got
 *                                                               new bytes; every concurrent request
 *                                                               for the key shares it
 *   a refusal                                                  a remembered 404/410, or the origin
 *                                                               failing with nothing stale to offer
 *
 * When the origin fails (an error, a timeout, a 5xx, or its breaker open), a stale object is
 * served instead while stale-if-error allows: the origin's, else the operator's default.
 */
import { LRUCache } from 'lru-cache';
import type { LoadPool } from '../../pool/load-pool.js';
import type { CacheStatus } from '../../http/cache-status.js';
import { freshnessOf, parseCacheControl, ttl, usability, usableOnError, type Fallback, type Freshness } from '../../http/freshness.js';
import type { Mapping } from '../../native/index.js';
import type { CachedMeta } from '../disk/format.js';
import { keyHasher } from '../disk/format.js';
import type { DiskCache } from '../disk/cache.js';
import type { DiskIndex } from '../disk/shared.js';
import { stat } from 'node:fs/promises';
import type { MemoryTier } from '../memory.js';
import { adopt, COPY_LIMIT, type ObjectFacts, type Resident, type StoredFile } from '../objects.js';
import { ReadEntry, readFacts, type ReadFacts, type ReadTier } from '../read-tier.js';
import { discard, OriginError, type Origin, type OriginResponse } from '../origin/client.js';
import { Fill, validatorFor, type FillEvents, type FillHead } from './fill.js';

/** An object in the memory tier; `R` is its response data (serve/representation.ts). */
export interface EdgeEntry<R> extends Resident {
  readonly key: string;
  readonly hash: string;
  readonly path: string;
  readonly file: StoredFile;
  readonly mapping: Mapping | undefined;
  /** Replaced when a revalidation (304) brings new headers. */
  meta: CachedMeta;
  fresh: Freshness;
  /** Response data (headers), rebuilt with `meta`. */
  rep: R;
}

/**
 * An object of the disk tier that left the memory tier (or never fitted in it): its cache file's
 * body read block by block for each request (src/store/read-tier.ts) instead of loaded again.
 */
export class EdgeReadEntry<R> extends ReadEntry<R> {
  constructor(
    readonly key: string,
    readonly hash: string,
    readonly path: string,
    public meta: CachedMeta,
    public fresh: Freshness,
    facts: ReadFacts,
    rep: R,
    tier: ReadTier<EdgeReadEntry<R>>,
    fileSize: number,
  ) {
    super(hash, facts, rep, tier, fileSize);
  }
}

/** An edge object, whichever way its bytes are held. */
export type EdgeObject<R> = EdgeEntry<R> | EdgeReadEntry<R>;

export type EdgeAnswer<R> =
  | { readonly kind: 'entry'; readonly entry: EdgeObject<R>; readonly status: CacheStatus }
  | { readonly kind: 'fill'; readonly fill: Fill; readonly head: FillHead; readonly status: CacheStatus }
  | { readonly kind: 'refused'; readonly status: number; readonly cacheStatus: CacheStatus };

export interface EdgeEvents {
  hit(tier: 'memory' | 'disk'): void;
  miss(): void;
  /** A request that waited on another request's origin fetch. */
  collapsed(): void;
  stale(why: 'while-revalidate' | 'error'): void;
  /** A fill that ended without a complete, checked object. */
  discarded(reason: string, key: string, detail: string): void;
  /** A disk object whose bytes or trailer were wrong: dropped and fetched again. */
  corrupt(key: string, reason: string): void;
  /** The origin could not answer for `key`. */
  originFailed(key: string, err: NodeJS.ErrnoException): void;
  /** A revalidation (304) gave the object on disk new headers, which its file does not hold. */
  refreshed(hash: string, ino: number, meta: CachedMeta): void;
}

export interface EdgeOptions<R> {
  /**
   * Where misses are fetched. Undefined in a worker of a group (src/store/disk/shared.ts): it
   * answers only from what is cached (cached()) and forwards the rest to the group's filler.
   */
  readonly origin: Origin | undefined;
  /** Where objects are looked for. */
  readonly disk: DiskIndex | undefined;
  /** Where fills store objects: the same cache as `disk`, in the process that owns it. */
  readonly writer: DiskCache | undefined;
  /** Keyed by the key's hash, as the disk is, so an eviction from disk can let go of memory too. */
  readonly memory: MemoryTier<EdgeEntry<R>>;
  /** Disk objects served by reading their cache file, keyed by hash like the memory tier. */
  readonly reads: ReadTier<EdgeReadEntry<R>>;
  readonly pool: LoadPool;
  /** Response data for an object (serve/representation.ts through segd.ts). */
  describe(file: ObjectFacts, meta: CachedMeta, path: string): R;
  /** Freshness lifetime when the origin gives none (segd's policy by content). */
  fallbackLifetime(path: string, file: ObjectFacts | undefined, contentType: string | undefined): Fallback;
  /** stale-if-error in seconds when the origin gives none. */
  readonly staleIfError: number;
  /** How long a 404/410 is remembered, ms (0: not at all). */
  readonly negativeTtlMs: number;
  readonly maxObjectBytes: number;
  readonly events?: Partial<EdgeEvents>;
  readonly fillEvents?: Partial<FillEvents>;
}

/** Origin failures answered when nothing stale can stand in: timeouts 504, anything else 502. */
function failureStatus(err: NodeJS.ErrnoException): number {
  return err.code === 'UND_ERR_CONNECT_TIMEOUT' || err.code === 'UND_ERR_HEADERS_TIMEOUT' ? 504 : 502;
}

/** Cache-Status detail of a failed origin request: down (breaker open), answered unusably, or not answered. */
function failureDetail(err: NodeJS.ErrnoException): string {
  if (err.code === 'ESEGDORIGINDOWN') return 'origin-down';
  return err instanceof OriginError ? 'origin-invalid' : 'origin-unreachable';
}

export class EdgeStore<R> {
  private readonly fills = new Map<string, Fill>();
  /** Every fill not ended, including those no longer joinable (replaced in `fills`). */
  private readonly live = new Set<Fill>();
  private readonly loads = new Map<string, Promise<EdgeEntry<R> | undefined>>();
  private readonly revalidations = new Map<string, Promise<EdgeAnswer<R>>>();
  private readonly negative: LRUCache<string, { status: number }>;
  /** Headers from revalidations made elsewhere (the filler), for copies loaded here later. */
  private readonly refreshedMeta = new LRUCache<string, { ino: number; meta: CachedMeta }>({ max: 10_000 });
  private readonly events: Partial<EdgeEvents>;
  /** The key's hash, which names its file on disk and its slot in memory. */
  private readonly hashOf = keyHasher();

  constructor(private readonly o: EdgeOptions<R>) {
    this.events = o.events ?? {};
    this.negative = new LRUCache({ max: 100_000, ttl: Math.max(1, o.negativeTtlMs) });
  }

  /**
   * Every request for the object `key` (origin path `path` + `query`) asks here. A fresh copy in
   * memory is answered at once, not through a promise: that is most of an edge's requests.
   */
  lookup(key: string, path: string, query: string): EdgeAnswer<R> | Promise<EdgeAnswer<R>> {
    const hash = this.hashOf(key);
    const mem = this.o.memory.get(hash);
    if (mem !== undefined) return this.fromStore(mem, 'memory');
    return this.beyondMemory(key, hash, path, query);
  }

  private async beyondMemory(key: string, hash: string, path: string, query: string): Promise<EdgeAnswer<R>> {
    const neg = this.negative.get(key);
    if (neg !== undefined) return { kind: 'refused', status: neg.status, cacheStatus: { hit: true } };

    if (this.o.disk?.has(hash)) {
      const known = this.o.reads.get(hash);
      if (known !== undefined && (await known.usable())) {
        // Back into memory, in the background; a failure only leaves it where it is.
        if (known.hotterThan(this.o.memory)) this.loadFromDisk(key, hash, path).catch(() => undefined);
        return this.fromStore(known, 'disk');
      }
      const loaded = await this.loadFromDisk(key, hash, path);
      if (loaded !== undefined) return this.fromStore(loaded, 'disk');
    }
    const inflight = this.fills.get(key);
    if (inflight?.joinable) return this.join(inflight, { fwd: 'miss', collapsed: true });
    this.events.miss?.();
    return this.join(this.startFill(key, hash, path, query, {}), { fwd: 'miss' }, true);
  }

  /**
   * The object a fill of `key` just committed, from memory or disk, without a freshness check:
   * it answers the requests that waited for that fill (an object fresh for `max-age=0` must not
   * send them straight back to the origin).
   */
  async justStored(key: string, path: string): Promise<EdgeEntry<R> | undefined> {
    const hash = this.hashOf(key);
    return this.o.memory.get(hash) ?? (this.o.disk?.has(hash) ? this.loadFromDisk(key, hash, path) : undefined);
  }

  /**
   * A worker's lookup: a fresh copy from memory or from the shared disk, or undefined (the caller
   * forwards the request to the group's filler, where misses, staleness and refusals are handled).
   */
  async cached(key: string, path: string): Promise<EdgeObject<R> | undefined> {
    const hash = this.hashOf(key);
    const copy = this.o.memory.get(hash) ?? this.o.reads.get(hash);
    if (copy !== undefined) {
      if (usability(copy.fresh, Date.now()) === 'fresh' && (copy instanceof EdgeReadEntry ? await copy.usable() : true)) return this.freshHit(copy, copy instanceof EdgeReadEntry ? 'disk' : 'memory');
      // Stale here: a newer file (the filler fetched the object again) is worth loading, the same one is not.
      const now = await stat(this.o.disk!.pathOf(hash)).catch(() => undefined);
      if (now === undefined || now.ino === copy.file.ino) return undefined;
    }
    const loaded = await this.loadFromDisk(key, hash, path);
    return loaded !== undefined && usability(loaded.fresh, Date.now()) === 'fresh' ? this.freshHit(loaded, 'disk') : undefined;
  }

  private freshHit<E extends EdgeObject<R>>(e: E, tier: 'memory' | 'disk'): E {
    this.events.hit?.(tier);
    this.o.disk?.touch(e.hash);
    return e;
  }

  get inflight(): number {
    return this.live.size;
  }

  /** Body bytes the fills in progress hold in memory. */
  get fillBytes(): number {
    let n = 0;
    for (const f of this.live) n += f.bufferedBytes;
    return n;
  }

  private fromStore(e: EdgeObject<R>, tier: 'memory' | 'disk'): EdgeAnswer<R> | Promise<EdgeAnswer<R>> {
    const now = Date.now();
    switch (usability(e.fresh, now)) {
      case 'fresh':
        return { kind: 'entry', entry: this.freshHit(e, tier), status: { hit: true } };
      case 'stale-while-revalidate':
        this.events.hit?.(tier);
        this.events.stale?.('while-revalidate');
        void this.revalidate(e);
        return { kind: 'entry', entry: e, status: { hit: true, ttl: ttl(e.fresh, now), detail: 'stale-while-revalidate' } };
      case 'stale':
        return this.revalidate(e);
    }
  }

  /** One conditional request per key at a time; everyone asking meanwhile shares its answer. */
  private revalidate(e: EdgeObject<R>): Promise<EdgeAnswer<R>> {
    let p = this.revalidations.get(e.key);
    if (p === undefined) {
      p = this.conditionalFetch(e).finally(() => this.revalidations.delete(e.key));
      this.revalidations.set(e.key, p);
    }
    return p;
  }

  private async conditionalFetch(e: EdgeObject<R>): Promise<EdgeAnswer<R>> {
    const conditions: Record<string, string> = {};
    if (e.meta.headers.etag !== undefined) conditions['if-none-match'] = e.meta.headers.etag;
    if (e.meta.headers['last-modified'] !== undefined) conditions['if-modified-since'] = e.meta.headers['last-modified'];
    const query = e.key.includes('?') ? e.key.slice(e.key.indexOf('?')) : '';
    const fill = this.startFill(e.key, e.hash, e.path, query, conditions);
    let head: FillHead;
    try {
      head = await fill.head;
    } catch (err) {
      return this.staleOrFail(e, err as NodeJS.ErrnoException);
    }
    if (head.status === 304) {
      this.refresh(e, head);
      return { kind: 'entry', entry: e, status: { fwd: 'stale', fwdStatus: 304 } };
    }
    if (head.status >= 500) {
      const stale = this.staleOnError(e, { fwd: 'stale', fwdStatus: head.status });
      if (stale !== undefined) return stale;
    }
    if (head.status === 404 || head.status === 410) this.forget(e);
    return this.answerFill(fill, head, { fwd: 'stale' });
  }

  /**
   * A 304's headers update the stored ones and restart the freshness clock (RFC 9111 §4.3.4), in
   * both tiers' copies of the same bytes.
   */
  private refresh(e: EdgeObject<R>, head: FillHead): void {
    const headers = { ...e.meta.headers };
    for (const [name, value] of Object.entries(head.headers)) if (name !== 'content-length' && name !== 'content-encoding') headers[name] = value;
    const meta = { ...e.meta, headers, requestTime: head.requestTime, responseTime: head.responseTime };
    this.applyMeta(e.hash, e.file.ino, meta, e);
    this.events.refreshed?.(e.hash, e.file.ino, meta);
  }

  /** New headers for the object in file `ino` (from a revalidation here or in the filler), on every copy of those bytes. */
  applyMeta(hash: string, ino: number, meta: CachedMeta, also?: EdgeObject<R>): void {
    for (const copy of [this.o.memory.peek(hash), this.o.reads.get(hash), also]) {
      if (copy === undefined || copy.file.ino !== ino || copy.file.crc32c !== meta.crc32c) continue;
      copy.meta = meta;
      copy.fresh = this.freshness(meta, copy.path, copy.file);
      copy.rep = this.o.describe(copy.file, meta, copy.path);
    }
    if (also === undefined) this.refreshedMeta.set(hash, { ino, meta });
  }

  /** The object is gone at the origin: drop every copy. */
  private forget(e: EdgeObject<R>): void {
    this.letGo(e.hash);
    void this.o.disk?.drop(e.hash);
  }

  /** Both tiers let go of `hash` (a new version replaced its file, or it is gone). */
  letGo(hash: string): void {
    this.o.memory.delete(hash);
    this.o.reads.delete(hash);
  }

  private staleOrFail(e: EdgeObject<R>, err: NodeJS.ErrnoException): EdgeAnswer<R> {
    this.events.originFailed?.(e.key, err);
    const detail = failureDetail(err);
    return this.staleOnError(e, { fwd: 'stale', detail }) ?? { kind: 'refused', status: failureStatus(err), cacheStatus: { fwd: 'stale', detail } };
  }

  private staleOnError(e: EdgeObject<R>, status: CacheStatus): EdgeAnswer<R> | undefined {
    const now = Date.now();
    if (!usableOnError(e.fresh, now, this.o.staleIfError)) return undefined;
    this.events.stale?.('error');
    return { kind: 'entry', entry: e, status: { ...status, ttl: ttl(e.fresh, now) } };
  }

  private startFill(key: string, hash: string, path: string, query: string, conditions: Record<string, string>): Fill {
    if (this.o.origin === undefined) throw new Error('this edge store has no origin: it answers from its cache only (cached())');
    const fill = new Fill(key, hash, path, query, { 'accept-encoding': 'identity', 'x-amz-checksum-mode': 'ENABLED', ...conditions }, {
      origin: this.o.origin,
      disk: this.o.writer,
      maxObjectBytes: this.o.maxObjectBytes,
      events: this.o.fillEvents ?? {},
    });
    this.fills.set(key, fill);
    this.live.add(fill);
    void fill.done.then((outcome) => {
      this.live.delete(fill);
      if (this.fills.get(key) === fill) this.fills.delete(key);
      if (outcome.kind === 'failed') this.events.discarded?.(outcome.reason, key, outcome.detail);
      // A new version is on disk (or the old one is stale and gone): the memory tier must not
      // keep answering with the old bytes.
      if (outcome.kind === 'committed') this.letGo(hash);
    });
    return fill;
  }

  private async join(fill: Fill, status: CacheStatus, leader = false): Promise<EdgeAnswer<R>> {
    if (!leader) this.events.collapsed?.();
    let head: FillHead;
    try {
      head = await fill.head;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (leader) this.events.originFailed?.(fill.key, e);
      return { kind: 'refused', status: failureStatus(e), cacheStatus: { ...status, detail: failureDetail(e) } };
    }
    // A revalidation's 304 has no body for a newcomer: answer from the refreshed object.
    if (head.status === 304) {
      const e = this.o.memory.get(fill.hash) ?? (await this.loadFromDisk(fill.key, fill.hash, fill.path));
      if (e !== undefined) return { kind: 'entry', entry: e, status: { fwd: 'stale', fwdStatus: 304, collapsed: true } };
      return { kind: 'refused', status: 502, cacheStatus: { ...status, fwdStatus: 304, detail: 'object-lost' } };
    }
    return this.answerFill(fill, head, status);
  }

  private answerFill(fill: Fill, head: FillHead, status: CacheStatus): EdgeAnswer<R> {
    const s: CacheStatus = { ...status, fwdStatus: head.status, stored: head.storing || undefined };
    if ((head.status === 404 || head.status === 410) && head.storability === 'negative') {
      if (this.o.negativeTtlMs > 0) this.negative.set(fill.key, { status: head.status });
      return { kind: 'refused', status: head.status, cacheStatus: s };
    }
    return { kind: 'fill', fill, head, status: s };
  }

  /** The disk copy of `key` into memory, checked; undefined when it is missing or bad (dropped). */
  private loadFromDisk(key: string, hash: string, path: string): Promise<EdgeEntry<R> | undefined> {
    let p = this.loads.get(key);
    if (p === undefined) {
      p = this.load(key, hash, path).finally(() => this.loads.delete(key));
      this.loads.set(key, p);
    }
    return p;
  }

  private async load(key: string, hash: string, path: string): Promise<EdgeEntry<R> | undefined> {
    const disk = this.o.disk!;
    const r = await this.o.pool.loadCached({ file: disk.pathOf(hash), key, copyLimit: COPY_LIMIT, playlist: path.toLowerCase().endsWith('.m3u8') });
    if (r.kind === 'missing') {
      disk.lost(hash);
      return undefined;
    }
    if (r.kind === 'invalid' || r.kind === 'corrupt') {
      this.events.corrupt?.(key, r.kind === 'invalid' ? r.reason : `CRC32C ${r.actual.toString(16)}, trailer says ${r.expected.toString(16)}`);
      await disk.drop(hash);
      return undefined;
    }
    const { stored, mapping } = adopt(disk.pathOf(hash), r);
    const newer = this.refreshedMeta.get(hash);
    const meta = newer !== undefined && newer.ino === r.ino && newer.meta.crc32c === r.meta.crc32c && newer.meta.responseTime > r.meta.responseTime ? newer.meta : r.meta;
    const entry: EdgeEntry<R> = {
      key,
      hash,
      path,
      file: stored,
      mapping,
      warming: undefined,
      mismatched: false,
      usedAt: Date.now(),
      meta,
      fresh: this.freshness(meta, path, stored),
      rep: this.o.describe(stored, meta, path),
    };
    this.o.memory.set(hash, entry);
    const facts = readFacts(stored);
    if (facts !== undefined) this.o.reads.set(new EdgeReadEntry(key, hash, path, meta, entry.fresh, facts, entry.rep, this.o.reads, r.fileSize));
    return entry;
  }

  freshness(meta: CachedMeta, path: string, file: ObjectFacts | undefined): Freshness {
    const h = meta.headers;
    return freshnessOf(
      { cacheControl: parseCacheControl(h['cache-control']), date: h.date, expires: h.expires, age: h.age, lastModified: h['last-modified'] },
      { requestTime: meta.requestTime, responseTime: meta.responseTime },
      this.o.fallbackLifetime(path, file, h['content-type']),
    );
  }

  /** The freshness of a response not (yet) stored: for the Age and Cache-Control of a fill's answers. */
  headFreshness(head: FillHead, path: string): Freshness {
    return this.freshness({ v: 1, key: '', length: 0, crc32c: 0, requestTime: head.requestTime, responseTime: head.responseTime, headers: head.headers }, path, undefined);
  }

  /**
   * Bytes [start, end] of the object a fill is still fetching, straight from the origin and not
   * stored: for a range far ahead of the fill's progress (a seek into a large single-file
   * stream), which would otherwise wait for everything before it. If-Range pins the version the
   * fill is fetching; anything but the exact 206 asked for is refused (undefined), and the
   * request waits on the fill instead.
   */
  async rangeAhead(fill: Fill, head: FillHead, start: number, end: number): Promise<OriginResponse['body'] | undefined> {
    const pin = validatorFor(head.headers);
    if (pin === undefined || head.length === undefined) return undefined;
    const r = await this.o.origin!.get(fill.path, fill.query, { 'accept-encoding': 'identity', range: `bytes=${start}-${end}`, 'if-range': pin }).catch(() => undefined);
    if (r === undefined) return undefined;
    if (r.status === 206 && r.headers['content-range'] === `bytes ${start}-${end}/${head.length}`) return r.body;
    discard(r.body);
    return undefined;
  }

  clear(): void {
    this.negative.clear();
  }
}

