/**
 * The hot object store: a byte-bounded LRU of files that are ready to send (bytes as a mapping or
 * a buffer, checksum, facts), fed by the worker pool.
 *
 * Fast path: `hot(file)` is one Map lookup and one clock comparison; it returns only an object
 * whose stat was confirmed within `validityMs` (like nginx's open_file_cache_valid), so a file
 * replaced on disk is noticed within that bound and never served under its old ETag after it.
 * Everything else goes through `fetch()`, which shares one stat or one pool task between all
 * concurrent requests for a file.
 */
import { stat } from 'node:fs/promises';
import { constants as bufferConstants } from 'node:buffer';
import { LRUCache } from 'lru-cache';
import { native, type Mapping } from '../native/index.js';
import type { LoadPool } from '../pool/load-pool.js';
import type { Expectation, Loaded, LoadResult, LoadTask, PlaylistFacts } from '../pool/tasks.js';

/** The largest object exposed as one Buffer; bigger files are sliced from the mapping per request. */
const MAX_VIEW = Math.min(bufferConstants.MAX_LENGTH, 2 ** 31);
/** Files up to this size are copied, not mapped. */
const COPY_LIMIT = 64 * 1024;

export interface StoredFile {
  readonly file: string;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ino: number;
  readonly crc32c: number;
  readonly playlist: PlaylistFacts | undefined;
  readonly gzip: Buffer | undefined;
  readonly br: Buffer | undefined;
  /** Zero-copy view of [start, start+length): a subarray of one whole-file Buffer when there is one. */
  view(start: number, length: number): Buffer;
}

export interface Entry<R> {
  readonly file: StoredFile;
  /** Rebuilt in place when what describes the file changes (a new manifest). */
  rep: R;
  readonly mapping: Mapping | undefined;
  checkedAt: number;
  revalidating: Promise<Entry<R> | undefined> | undefined;
  warming: Promise<void> | undefined;
}

/** Why a file is not served; remembered for the validity window like a 404, so a flood costs nothing. */
export type Refusal =
  | { readonly kind: 'missing' }
  | { readonly kind: 'corrupt' }
  | { readonly kind: 'forbidden' }
  | { readonly kind: 'failed'; readonly code: string };

export type Outcome<R> = { readonly kind: 'found'; readonly entry: Entry<R> } | Refusal;

export interface Mount {
  readonly realRoot: string;
  readonly followSymlinks: boolean;
}

export interface StoreEvents {
  hit(): void;
  miss(): void;
  evict(): void;
  /** A cached object's pages had been dropped by the kernel and were read back in the pool. */
  rewarm(): void;
  corrupt(file: string, expected: number, actual: number): void;
  /** The file exists but could not be read (EACCES, EIO, ...): `err.code` says why. */
  unreadable(file: string, err: NodeJS.ErrnoException): void;
  /** A playlist that hls-parser could not read cleanly; served as it is. */
  malformedPlaylist(file: string, problem: string): void;
}

export interface StoreOptions<R> {
  readonly maxBytes: number;
  readonly validityMs: number;
  readonly pool: LoadPool;
  /** Builds the per-object response data (headers) once, when an object enters the store. */
  readonly describe: (file: StoredFile) => R;
  readonly expected?: ((file: string) => Expectation | undefined) | undefined;
  /** Check loaded bytes against `expected` (true), or take the expected checksum on trust. */
  readonly verify: boolean;
  readonly events?: Partial<StoreEvents> | undefined;
}

const MISSING = { kind: 'missing' } as const;
const CORRUPT = { kind: 'corrupt' } as const;
const FORBIDDEN = { kind: 'forbidden' } as const;

export class FileStore<R> {
  private readonly lru: LRUCache<string, Entry<R>>;
  /** Recent misses and refused files, so a flood of 404s costs one stat per file per validity window. */
  private readonly negative: LRUCache<string, Refusal>;
  private readonly pending = new Map<string, Promise<Outcome<R>>>();
  private readonly events: Partial<StoreEvents>;

  constructor(private readonly opts: StoreOptions<R>) {
    this.events = opts.events ?? {};
    this.lru = new LRUCache<string, Entry<R>>({
      maxSize: Math.max(1, opts.maxBytes),
      sizeCalculation: (e) => Math.max(1, e.file.size + (e.file.gzip?.length ?? 0) + (e.file.br?.length ?? 0)),
      dispose: (e, _key, reason) => {
        // Buffers already handed to sockets hold their own references; only the handle goes.
        e.mapping?.close();
        if (reason === 'evict') this.events.evict?.();
      },
    });
    this.negative = new LRUCache({ max: 10_000, ttl: Math.max(1, opts.validityMs) });
  }

  /** The fast path: a ready object whose stat is still within the validity window. */
  hot(file: string): Entry<R> | undefined {
    const e = this.lru.get(file);
    if (e === undefined || Date.now() - e.checkedAt > this.opts.validityMs || e.mapping?.poisoned) return undefined;
    this.events.hit?.();
    return e;
  }

  async fetch(file: string, mount: Mount): Promise<Outcome<R>> {
    const cached = this.lru.get(file);
    if (cached !== undefined) {
      if (cached.mapping?.poisoned) {
        this.lru.delete(file);
      } else {
        const fresh = await this.revalidate(cached);
        if (fresh !== undefined) {
          this.events.hit?.();
          return { kind: 'found', entry: fresh };
        }
      }
    }
    const refused = this.negative.get(file);
    if (refused !== undefined) return refused;

    let p = this.pending.get(file);
    if (p === undefined) {
      this.events.miss?.();
      p = this.loadAndInsert(file, mount).finally(() => this.pending.delete(file));
      this.pending.set(file, p);
    }
    return p;
  }

  /**
   * Resolves when [start, start+length) of a mapped object is in RAM. Pages the kernel dropped
   * would otherwise be read from disk inside the socket write, on the event loop; a mincore()
   * is about a microsecond, and the re-read happens in the pool. Returns undefined when resident.
   */
  ensureResident(e: Entry<R>, start: number, length: number): Promise<void> | undefined {
    if (e.mapping === undefined || length === 0 || e.mapping.resident(start, length)) return undefined;
    if (e.warming === undefined) {
      this.events.rewarm?.();
      // A failed re-read only costs speed: the mapping still holds the bytes, and the socket
      // write faults them in itself.
      e.warming = this.opts.pool
        .warm(e.file.file)
        .catch((err: NodeJS.ErrnoException) => this.events.unreadable?.(e.file.file, err))
        .finally(() => (e.warming = undefined));
    }
    return e.warming;
  }

  get bytes(): number {
    return this.lru.calculatedSize;
  }

  get entries(): number {
    return this.lru.size;
  }

  clear(): void {
    this.lru.clear();
    this.negative.clear();
  }

  /**
   * What describes files changed (a new manifest): rebuild every cached object's response data,
   * drop those whose bytes the new manifest contradicts (the next request reloads and refuses
   * them), and forget refusals, which the new manifest may no longer justify.
   */
  redescribe(): void {
    for (const [file, e] of this.lru.entries()) {
      const exp = this.opts.verify ? this.opts.expected?.(file) : undefined;
      if (exp !== undefined && exp.size === e.file.size && exp.mtimeMs === e.file.mtimeMs && exp.crc32c !== e.file.crc32c) {
        this.lru.delete(file);
      } else {
        e.rep = this.opts.describe(e.file);
      }
    }
    this.negative.clear();
  }

  private revalidate(e: Entry<R>): Promise<Entry<R> | undefined> {
    e.revalidating ??= stat(e.file.file)
      .then(
        (st) => {
          const same = st.size === e.file.size && st.mtimeMs === e.file.mtimeMs && st.ino === e.file.ino;
          if (!same) {
            if (this.lru.peek(e.file.file) === e) this.lru.delete(e.file.file);
            return undefined;
          }
          e.checkedAt = Date.now();
          return e;
        },
        () => {
          if (this.lru.peek(e.file.file) === e) this.lru.delete(e.file.file);
          return undefined;
        },
      )
      .finally(() => (e.revalidating = undefined));
    return e.revalidating;
  }

  private async loadAndInsert(file: string, mount: Mount): Promise<Outcome<R>> {
    const task: LoadTask = {
      file,
      realRoot: mount.realRoot,
      followSymlinks: mount.followSymlinks,
      copyLimit: COPY_LIMIT,
      expected: this.opts.expected?.(file),
      verify: this.opts.verify,
    };
    let result: LoadResult;
    try {
      result = await this.opts.pool.load(task);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const code = e.code ?? 'EUNKNOWN';
      const refusal: Refusal = code === 'EACCES' || code === 'EPERM' ? FORBIDDEN : { kind: 'failed', code };
      // A file that changed under the loader is worth another try at once; the rest is not.
      if (!code.startsWith('ESEGD')) this.negative.set(file, refusal);
      this.events.unreadable?.(file, e);
      return refusal;
    }
    if (result.kind === 'missing') {
      this.negative.set(file, MISSING);
      return MISSING;
    }
    if (result.kind === 'corrupt') {
      this.negative.set(file, CORRUPT);
      this.events.corrupt?.(file, result.expected, result.actual);
      return CORRUPT;
    }
    if (result.kind === 'copied' && result.playlistProblem !== undefined) this.events.malformedPlaylist?.(file, result.playlistProblem);
    const { stored, mapping } = adopt(file, result);
    const entry: Entry<R> = {
      file: stored,
      rep: this.opts.describe(stored),
      mapping,
      checkedAt: Date.now(),
      revalidating: undefined,
      warming: undefined,
    };
    // An object bigger than the whole cache is served to the requests that waited for it and then
    // released by GC (the handle's finalizer drops its mapping reference).
    if (stored.size + (stored.gzip?.length ?? 0) + (stored.br?.length ?? 0) <= this.opts.maxBytes) {
      this.lru.set(file, entry);
    }
    return { kind: 'found', entry };
  }
}

function adopt(file: string, r: Loaded): { stored: StoredFile; mapping: Mapping | undefined } {
  const facts = { file, size: r.size, mtimeMs: r.mtimeMs, ino: r.ino, crc32c: r.crc32c };
  if (r.kind === 'copied') {
    const whole = toBuffer(r.bytes);
    return {
      stored: {
        ...facts,
        playlist: r.playlist,
        gzip: r.gzip && toBuffer(r.gzip),
        br: r.br && toBuffer(r.br),
        view: (start, length) => whole.subarray(start, start + length),
      },
      mapping: undefined,
    };
  }
  const mapping = native.adopt(r.token);
  // Zero-copy: `whole` points into the mapping; subarray() makes views, never copies.
  const whole = r.size <= MAX_VIEW ? mapping.slice(0, r.size) : undefined;
  return {
    stored: {
      ...facts,
      playlist: undefined,
      gzip: undefined,
      br: undefined,
      view: whole ? (start, length) => whole.subarray(start, start + length) : (start, length) => mapping.slice(start, length),
    },
    mapping,
  };
}

/** Structured clone turns Buffers into plain Uint8Arrays; wrap without copying. */
function toBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}
