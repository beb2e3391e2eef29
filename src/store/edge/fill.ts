/**
 * A fill: one origin request whose body streams, at once, to every request waiting for the object
 * (read-while-writer) and to a temporary file that becomes the cached object when it is complete
 * and checked. Any number of concurrent misses for a key share one fill (edge.ts keeps one per
 * key), and each waiter gets bytes as they arrive, not when the object is complete.
 *
 * States, in the order they happen (after Varnish's fetch: fetch → streaming → done | failed):
 *   fetching   the origin request is out; `head` resolves when its headers arrive
 *   streaming  body chunks are appended; waiters are woken on each one
 *   done       complete: length and declared checksums match; committed to disk when stored
 *   failed     the origin or the checks failed: the temporary file is discarded, waiters still
 *              short of their last byte are cut off (never padded, never a silently short 200)
 *
 * Memory: a fill that stores keeps a chunk until it is on disk and every waiter has sent it (at
 * most WINDOW behind the newest byte); a waiter that falls behind, or a newcomer, reads it back
 * from the temporary file (its descriptor stays valid through the rename, and through an unlink
 * if the disk fails), so whoever may still read a fill's bytes must be attached. One that does
 * not store keeps an object up to WHOLE_IN_MEMORY whole until the fill ends. A large fill that does not
 * store (too big for the cache, or the disk failed) keeps only what its slowest waiter has yet to
 * send, at most WINDOW: the origin is read at that waiter's pace, as a proxy would; a newcomer
 * that needs bytes already let go gets a fill of its own (`joinable`); and once every waiter has
 * left, the origin request is abandoned rather than read on for nobody.
 *
 * A body that breaks midway is resumed with a range request from where it broke (If-Range pins the
 * version), so a reset costs the waiters a pause, not a failed download.
 */
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { createHash, type Hash } from 'node:crypto';
import { native } from '../../native/index.js';
import { parseCacheControl, storability, type Storability } from '../../http/freshness.js';
import { declaredDigests, type DeclaredDigests } from '../../http/declared-digest.js';
import { encodeTrailer, type CachedMeta } from '../disk/format.js';
import type { DiskCache, Reservation } from '../disk/cache.js';
import { discard, type Origin, type OriginResponse } from '../origin/client.js';
import { contentLength, keptHeaders } from './headers.js';

/** Objects up to this size stay whole in memory while they fill. */
const WHOLE_IN_MEMORY = 64 * 1024 * 1024;
/** Past WHOLE_IN_MEMORY, the most recent bytes kept in memory for waiters that keep up. */
const WINDOW = 16 * 1024 * 1024;
/** Unwritten bytes at which the origin body is paused until the disk catches up. */
const WRITE_BACKLOG = 8 * 1024 * 1024;
/** Reserved on top of the body for the trailer; reservations for unknown lengths grow by GROW. */
const TRAILER_ROOM = 4096;
const GROW = 1024 * 1024;

export interface FillHead {
  readonly status: number;
  /** The origin's headers worth keeping (headers.ts). */
  readonly headers: Readonly<Record<string, string>>;
  /** Body length, when the origin said. */
  readonly length: number | undefined;
  readonly storability: Storability;
  /** This fill writes the object to the disk cache. */
  readonly storing: boolean;
  readonly declared: DeclaredDigests;
  readonly requestTime: number;
  readonly responseTime: number;
}

export type FailReason = 'origin' | 'short' | 'long' | 'checksum' | 'resume' | 'aborted';

export type FillOutcome =
  | { readonly kind: 'committed'; readonly length: number; readonly crc32c: number }
  /** Complete and checked, but not on disk (not storable, too big, or the disk failed). */
  | { readonly kind: 'complete'; readonly length: number; readonly crc32c: number }
  | { readonly kind: 'failed'; readonly reason: FailReason; readonly detail: string };

export interface FillEvents {
  bytes(n: number): void;
  /** The fill could not write to the disk and goes on without it. */
  diskError(op: 'write' | 'commit', err: NodeJS.ErrnoException): void;
  resumed(): void;
}

export interface FillDeps {
  readonly origin: Origin;
  readonly disk: DiskCache | undefined;
  readonly maxObjectBytes: number;
  readonly events: Partial<FillEvents>;
}

interface Chunk {
  readonly offset: number;
  readonly buf: Buffer;
}

/** A reader of a fill's bytes: says how far it has sent, and leaves (more than once is harmless). */
export interface FillWaiter {
  at(pos: number): void;
  leave(): void;
}

export class Fill {
  readonly head: Promise<FillHead>;
  readonly done: Promise<FillOutcome>;
  /** Bytes received so far. */
  received = 0;
  /**
   * Set once the body is complete and its length and declared checksums match. Until the fill
   * has ended the last byte received is held back from every answer (see sendable), so no client
   * sees a complete body that then fails its checks.
   */
  checked = false;
  /** CRC32C of the whole body, once checked. */
  crc32c: number | undefined;
  outcome: FillOutcome | undefined;

  private chunks: Chunk[] = [];
  private wake: (() => void)[] = [];
  private crc = 0;
  private hashes: { kind: 'md5' | 'sha256' | 'sha512'; h: Hash; want: string }[] = [];
  // disk
  private reservation: Reservation | undefined;
  private temp: string | undefined;
  private writer: FileHandle | undefined;
  private reader: FileHandle | undefined;
  /** The attached waiters: the next byte each will send. */
  private readonly waiters = new Set<{ pos: number }>();
  /** Bytes of `chunks`. */
  private buffered = 0;
  /** Appends waiting for the waiters of a fill that does not store to make room. */
  private room: (() => void)[] = [];
  private body: OriginResponse['body'] | undefined;
  private abandoned = false;
  private written = 0;
  private queued: Buffer[] = [];
  private queuedBytes = 0;
  private flushing: Promise<void> | undefined;
  private storing = false;
  private headValue: FillHead | undefined;

  constructor(
    readonly key: string,
    readonly hash: string,
    readonly path: string,
    readonly query: string,
    private readonly requestHeaders: Record<string, string>,
    private readonly deps: FillDeps,
  ) {
    let resolveHead!: (h: FillHead) => void;
    let rejectHead!: (e: unknown) => void;
    this.head = new Promise((res, rej) => ((resolveHead = res), (rejectHead = rej)));
    this.head.catch(() => undefined); // observed through `done` when nobody waits on the head
    this.done = this.run(resolveHead, rejectHead).then((o) => {
      this.outcome = o;
      this.notify();
      void this.releaseReader();
      return o;
    });
  }

  get storingToDisk(): boolean {
    return this.storing;
  }

  /**
   * How far an answer may send now: every byte once the fill has ended well (checked, and
   * committed when stored, so the next request finds the object in the cache), else all but
   * the last byte received.
   */
  get sendable(): number {
    return this.outcome !== undefined && this.outcome.kind !== 'failed' ? this.received : Math.max(0, this.received - 1);
  }

  /** Bytes from `offset` that are in memory now (a zero-copy view of one chunk), or undefined. */
  available(offset: number): Buffer | undefined {
    const c = this.chunkAt(offset);
    return c === undefined ? undefined : c.buf.subarray(offset - c.offset);
  }

  /** True when bytes at `offset` arrived but left memory: read them with readBehind(). */
  isBehind(offset: number): boolean {
    return offset < this.received && this.chunkAt(offset) === undefined;
  }

  /** Up to `max` bytes from `offset` out of the temporary file, for a waiter that fell behind. */
  async readBehind(offset: number, max: number): Promise<Buffer | undefined> {
    if (this.reader === undefined || offset >= this.written) return undefined;
    const n = Math.min(max, this.written - offset);
    const buf = Buffer.allocUnsafe(n);
    const { bytesRead } = await this.reader.read(buf, 0, n, offset);
    return bytesRead === 0 ? undefined : buf.subarray(0, bytesRead);
  }

  /** Resolves at the next chunk or at the end. */
  changed(): Promise<void> {
    if (this.outcome !== undefined) return Promise.resolve();
    return new Promise((r) => this.wake.push(r));
  }

  /** Body bytes held in memory now. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** Whether a newcomer can be answered from byte 0: nothing before what is held has been let go, or the file has it. */
  get joinable(): boolean {
    return !this.abandoned && (this.chunks[0]?.offset ?? this.received) <= (this.reader === undefined ? 0 : this.written);
  }

  /**
   * A waiter sending from byte `start`; it says how far it got with `at()` and leaves with
   * `leave()`. While any waiter is attached, the temporary file's descriptor stays open.
   */
  attach(start: number): FillWaiter {
    const w = { pos: start };
    this.waiters.add(w);
    let left = false;
    return {
      at: (pos) => {
        w.pos = pos;
        this.makeRoom();
      },
      leave: () => {
        if (left) return;
        left = true;
        this.waiters.delete(w);
        if (this.waiters.size === 0 && this.outcome === undefined && this.passingThrough) this.abandon();
        this.makeRoom();
        void this.releaseReader();
      },
    };
  }

  /** A large object that is not being stored: memory bounded by the waiters (see the top). */
  private get passingThrough(): boolean {
    return !this.storing && (this.headValue?.length ?? this.received) > WHOLE_IN_MEMORY;
  }

  private abandon(): void {
    this.abandoned = true;
    this.body?.destroy();
  }

  private makeRoom(): void {
    this.trim();
    const r = this.room;
    this.room = [];
    for (const f of r) f();
  }

  /** The position of the waiter furthest behind (at most what has been received), or `none` when nobody is attached. */
  private slowest(none: number): number {
    let pos = this.waiters.size === 0 ? none : this.received;
    for (const w of this.waiters) pos = Math.min(pos, w.pos);
    return pos;
  }

  private chunkAt(offset: number): Chunk | undefined {
    const cs = this.chunks;
    let lo = 0;
    let hi = cs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const c = cs[mid]!;
      if (offset < c.offset) hi = mid - 1;
      else if (offset >= c.offset + c.buf.length) lo = mid + 1;
      else return c;
    }
    return undefined;
  }

  private notify(): void {
    const w = this.wake;
    this.wake = [];
    for (const f of w) f();
  }

  private async run(resolveHead: (h: FillHead) => void, rejectHead: (e: unknown) => void): Promise<FillOutcome> {
    let res: OriginResponse;
    try {
      res = await this.deps.origin.get(this.path, this.query, this.requestHeaders);
    } catch (err) {
      rejectHead(err);
      return { kind: 'failed', reason: 'origin', detail: String((err as Error).message) };
    }
    const headers = keptHeaders(res.headers);
    const length = contentLength(res.headers);
    const verdict = storability(res.status, parseCacheControl(headers['cache-control']), headerString(res.headers.vary));
    // segd asks for identity bytes; an origin that encodes anyway is passed through, not stored.
    const encoded = headers['content-encoding'] !== undefined && headers['content-encoding'].toLowerCase() !== 'identity';
    const declared = declaredDigests({ crc32c: headers['x-amz-checksum-crc32c'], contentMd5: headers['content-md5'], reprDigest: headers['repr-digest'] });
    const head: FillHead = {
      status: res.status,
      headers,
      length,
      storability: verdict,
      storing: false,
      declared,
      requestTime: res.requestTime,
      responseTime: res.responseTime,
    };
    if (res.status === 200 && verdict === 'store' && !encoded) await this.openDisk(length);
    this.headValue = { ...head, storing: this.storing };
    resolveHead(this.headValue);
    if (res.status !== 200) {
      // Not an object: the body streams to the waiters (a pass-through error page), nothing is kept.
      return this.consume(res, length, undefined);
    }
    if (declared.md5) this.hashes.push({ kind: 'md5', h: createHash('md5'), want: declared.md5 });
    if (declared.sha256) this.hashes.push({ kind: 'sha256', h: createHash('sha256'), want: declared.sha256 });
    if (declared.sha512) this.hashes.push({ kind: 'sha512', h: createHash('sha512'), want: declared.sha512 });
    return this.consume(res, length, validatorFor(headers));
  }

  /** Reads the body to its end, resuming after a break when the object's version can be pinned. */
  private async consume(res: OriginResponse, length: number | undefined, pin: string | undefined): Promise<FillOutcome> {
    let body = (this.body = res.body);
    for (let resumes = 0; ; resumes++) {
      try {
        for await (const chunk of body as AsyncIterable<Buffer>) await this.append(chunk);
        if (this.abandoned) return this.fail('aborted', `every waiter left after ${this.received} bytes of an object not being stored`);
        break;
      } catch (err) {
        if (this.abandoned) return this.fail('aborted', `every waiter left after ${this.received} bytes of an object not being stored`);
        const broken = String((err as Error).message);
        const canResume = pin !== undefined && length !== undefined && this.received < length && resumes < 2;
        if (!canResume) return this.fail('origin', `body broke after ${this.received} bytes: ${broken}`);
        const next = await this.resume(pin, length).catch((e: Error) => e);
        if (next instanceof Error) return this.fail('resume', `body broke after ${this.received} bytes (${broken}); resuming failed: ${next.message}`);
        body = this.body = next;
      }
    }
    if (length !== undefined && this.received !== length) return this.fail(this.received < length ? 'short' : 'long', `body of ${this.received} bytes, Content-Length ${length}`);
    const crc = this.crc >>> 0;
    const declared = this.headValue!.declared;
    if (declared.crc32c !== undefined && declared.crc32c !== crc) return this.fail('checksum', `CRC32C ${crc.toString(16)} differs from the declared ${declared.crc32c.toString(16)}`);
    for (const { kind, h, want } of this.hashes) {
      const got = h.digest('base64');
      if (got !== want) return this.fail('checksum', `${kind} ${got} differs from the declared ${want}`);
    }
    this.crc32c = crc;
    this.checked = true;
    this.notify();
    if (this.storing) return this.commit(crc);
    return { kind: 'complete', length: this.received, crc32c: crc };
  }

  /** The rest of the body from where it broke, pinned to the same version. */
  private async resume(pin: string, length: number): Promise<OriginResponse['body']> {
    this.deps.events.resumed?.();
    const r = await this.deps.origin.get(this.path, this.query, { ...this.requestHeaders, range: `bytes=${this.received}-`, 'if-range': pin });
    const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(headerString(r.headers['content-range']) ?? '');
    if (r.status !== 206 || range === null || Number(range[1]) !== this.received || Number(range[3]) !== length) {
      discard(r.body);
      throw new Error(r.status === 206 ? 'the origin resumed at another offset' : `the origin answered ${r.status}, not the rest of the same version`);
    }
    return r.body;
  }

  private async append(chunk: Buffer): Promise<void> {
    const offset = this.received;
    this.crc = native.crc32c(chunk, this.crc);
    for (const { h } of this.hashes) h.update(chunk);
    this.chunks.push({ offset, buf: chunk });
    this.buffered += chunk.length;
    this.received += chunk.length;
    this.deps.events.bytes?.(chunk.length);
    this.notify();
    if (this.storing) {
      if (this.headValue!.length === undefined && !(await this.ensureRoom(this.received))) await this.stopStoring();
      else this.queue(chunk);
    }
    this.trim();
    if (this.queuedBytes > WRITE_BACKLOG) await this.flushing;
    while (this.passingThrough && this.buffered > WINDOW && !this.abandoned) {
      if (this.waiters.size === 0) this.abandon(); // a HEAD, a 304: nobody will read it
      else await new Promise<void>((r) => this.room.push(r));
    }
  }

  /**
   * Lets go of chunks nobody needs from memory. When storing: those on disk that every waiter has
   * sent, or that are older than the window (a waiter that fell behind, or a newcomer, reads them
   * back from the file). Let go that soon, most chunks die young: buffers that outlive two
   * scavenges are promoted, and every 64 MiB of them costs V8 a full collection (several a second
   * in a fill-heavy load, a fifth of the CPU before this). Else (large objects only) those every
   * waiter has sent or the file holds.
   */
  private trim(): void {
    let keepFrom: number;
    if (this.storing) keepFrom = Math.min(this.written, Math.max(this.slowest(this.received), this.received - WINDOW));
    else {
      if (!this.passingThrough) return;
      const needed = this.slowest(this.chunks[0]?.offset ?? this.received); // nobody yet: keep what is held
      keepFrom = Math.max(needed, this.reader === undefined ? 0 : this.written);
    }
    let drop = 0;
    while (drop < this.chunks.length && this.chunks[drop]!.offset + this.chunks[drop]!.buf.length <= keepFrom) this.buffered -= this.chunks[drop++]!.buf.length;
    if (drop > 0) this.chunks = this.chunks.slice(drop);
  }

  // ---- the disk side ----

  private async openDisk(length: number | undefined): Promise<void> {
    const disk = this.deps.disk;
    if (disk === undefined || (length !== undefined && length > this.deps.maxObjectBytes)) return;
    const r = await disk.reserve((length ?? GROW) + TRAILER_ROOM);
    if (r === undefined) return;
    this.reservation = r;
    this.temp = disk.tempPath();
    try {
      this.writer = await open(this.temp, 'wx');
      this.reader = await open(this.temp, 'r');
      this.storing = true;
    } catch (err) {
      this.deps.events.diskError?.('write', err as NodeJS.ErrnoException);
      await this.stopStoring();
    }
  }

  /**
   * Room in the reservation for a file of `fileBytes` holding `bodyBytes` of body; false past
   * what may be stored. The limit is the body's: an object of exactly --max-object-size is stored.
   */
  private async ensureRoom(bodyBytes: number, fileBytes = bodyBytes + TRAILER_ROOM): Promise<boolean> {
    if (bodyBytes > this.deps.maxObjectBytes) return false;
    const r = this.reservation!;
    if (fileBytes <= r.bytes) return true;
    return r.grow(Math.max(GROW, fileBytes - r.bytes));
  }

  private queue(chunk: Buffer): void {
    this.queued.push(chunk);
    this.queuedBytes += chunk.length;
    this.flushing ??= this.flush();
  }

  /** Writes queued chunks in order, a batch per writev, until the queue is empty. */
  private async flush(): Promise<void> {
    try {
      while (this.queued.length > 0 && this.storing) {
        const batch = this.queued;
        this.queued = [];
        const bytes = batch.reduce((n, b) => n + b.length, 0);
        let done = 0;
        while (done < bytes) {
          const { bytesWritten } = await this.writer!.writev(done === 0 ? batch : sliceFrom(batch, done), this.written);
          done += bytesWritten;
          this.written += bytesWritten;
        }
        this.queuedBytes -= bytes;
      }
    } catch (err) {
      this.deps.events.diskError?.('write', err as NodeJS.ErrnoException);
      await this.stopStoring();
    } finally {
      this.flushing = undefined;
    }
  }

  /** Goes on without the disk (full, failing, or the object outgrew what may be stored). */
  private async stopStoring(): Promise<void> {
    if (this.temp === undefined) return;
    this.storing = false;
    this.queued = [];
    this.queuedBytes = 0;
    const temp = this.temp;
    this.temp = undefined;
    this.reservation?.release();
    this.reservation = undefined;
    await this.writer?.close().catch(() => undefined);
    this.writer = undefined;
    await unlink(temp).catch(() => undefined); // the reader's descriptor keeps what was written readable
  }

  private async commit(crc32c: number): Promise<FillOutcome> {
    while (this.flushing !== undefined) await this.flushing;
    if (!this.storing) return { kind: 'complete', length: this.received, crc32c };
    const h = this.headValue!;
    const meta: CachedMeta = { v: 1, key: this.key, length: this.received, crc32c, requestTime: h.requestTime, responseTime: h.responseTime, headers: h.headers };
    const trailer = encodeTrailer(meta);
    try {
      if (!(await this.ensureRoom(this.received, this.received + trailer.length))) throw Object.assign(new Error('no room for the trailer'), { code: 'ENOSPC' });
      await this.writer!.write(trailer, 0, trailer.length, this.written);
      await this.writer!.close();
      this.writer = undefined;
      const temp = this.temp!;
      this.temp = undefined;
      await this.deps.disk!.commit(this.reservation!, temp, this.hash, this.received + trailer.length);
      this.reservation = undefined;
      return { kind: 'committed', length: this.received, crc32c };
    } catch (err) {
      this.deps.events.diskError?.('commit', err as NodeJS.ErrnoException);
      await this.stopStoring();
      return { kind: 'complete', length: this.received, crc32c };
    }
  }

  private async fail(reason: FailReason, detail: string): Promise<FillOutcome> {
    await this.stopStoring();
    return { kind: 'failed', reason, detail };
  }

  private async releaseReader(): Promise<void> {
    if (this.outcome === undefined || this.waiters.size > 0 || this.reader === undefined) return;
    const r = this.reader;
    this.reader = undefined;
    await r.close().catch(() => undefined);
  }
}

function headerString(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}

/** A strong validator for If-Range: a strong ETag, else Last-Modified. */
export function validatorFor(h: Readonly<Record<string, string>>): string | undefined {
  const etag = h.etag;
  if (etag !== undefined && etag.startsWith('"')) return etag;
  return h['last-modified'];
}

/** The buffers of `batch` from byte `skip` on (after a short writev). */
export function sliceFrom(batch: readonly Buffer[], skip: number): Buffer[] {
  const out: Buffer[] = [];
  for (const b of batch) {
    if (skip >= b.length) {
      skip -= b.length;
      continue;
    }
    out.push(skip > 0 ? b.subarray(skip) : b);
    skip = 0;
  }
  return out;
}
