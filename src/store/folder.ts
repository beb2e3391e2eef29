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
import { LRUCache } from 'lru-cache';
import type { Mapping } from '../native/index.js';
import type { LoadPool } from '../pool/load-pool.js';
import type { Expectation, LoadResult, LoadTask } from '../pool/tasks.js';
import { MemoryTier } from './memory.js';
import { adopt, COPY_LIMIT, type ObjectFacts, type Resident, type StoredFile } from './objects.js';
import { ReadEntry, readFacts, ReadTier } from './read-tier.js';

export interface Entry<R> extends Resident {
  readonly file: StoredFile;
  /** Rebuilt in place when what describes the file changes (a new manifest). */
  rep: R;
  readonly mapping: Mapping | undefined;
  checkedAt: number;
  revalidating: Promise<Entry<R> | undefined> | undefined;
}

/** Why a file is not served; remembered for the validity window like a 404, so a flood costs nothing. */
export type Refusal =
  | { readonly kind: 'missing' }
  | { readonly kind: 'corrupt' }
  | { readonly kind: 'forbidden' }
  | { readonly kind: 'failed'; readonly code: string };

/** A ready object: in memory, or known and served by reading its file (the read tier). */
export type Outcome<R> = { readonly kind: 'found'; readonly entry: Entry<R> | ReadEntry<R> } | Refusal;

export interface Mount {
  readonly realRoot: string;
  readonly followSymlinks: boolean;
}

export interface StoreEvents {
  hit(tier: 'memory' | 'read'): void;
  miss(): void;
  evict(): void;
  /** A cached object's pages had been dropped by the kernel and were read back in the pool. */
  rewarm(): void;
  /** A cached object was dropped because its file was truncated under its mapping. */
  truncated(file: string): void;
  corrupt(file: string, expected: number, actual: number): void;
  /** The file exists but could not be read (EACCES, EIO, ...): `err.code` says why. */
  unreadable(file: string, err: NodeJS.ErrnoException): void;
  /** A playlist that hls-parser could not read cleanly; served as it is. */
  malformedPlaylist(file: string, problem: string): void;
  /** An object of the read tier turned hot and is loaded back into memory. */
  promote(): void;
  /** A read of the read tier had to wait for the disk (off the event loop); `direct`: past the page cache. */
  diskRead(direct: boolean): void;
  /** A file's bytes no longer matched their block checksums while read: the response was cut short. */
  changedUnderRead(file: string): void;
}

export interface StoreOptions<R> {
  readonly maxBytes: number;
  readonly validityMs: number;
  readonly pool: LoadPool;
  /** Builds the per-object response data (headers) once, when an object enters the store. */
  readonly describe: (file: ObjectFacts) => R;
  readonly expected?: ((file: string) => Expectation | undefined) | undefined;
  /** Check loaded bytes against `expected` (true), or take the expected checksum on trust. */
  readonly verify: boolean;
  readonly events?: Partial<StoreEvents> | undefined;
}

const MISSING = { kind: 'missing' } as const;
const CORRUPT = { kind: 'corrupt' } as const;
const FORBIDDEN = { kind: 'forbidden' } as const;

/** What revalidation needs of an object of either tier. */
interface Checked<E> {
  readonly file: { readonly file: string; readonly size: number; readonly mtimeMs: number; readonly ino: number };
  checkedAt: number;
  revalidating: Promise<E | undefined> | undefined;
}

export class FileStore<R> {
  readonly memory: MemoryTier<Entry<R>>;
  readonly reads: ReadTier<ReadEntry<R>>;
  /** Recent misses and refused files, so a flood of 404s costs one stat per file per validity window. */
  private readonly negative: LRUCache<string, Refusal>;
  private readonly pending = new Map<string, Promise<Outcome<R>>>();
  private readonly events: Partial<StoreEvents>;

  constructor(private readonly opts: StoreOptions<R>) {
    const events = (this.events = opts.events ?? {});
    this.memory = new MemoryTier<Entry<R>>(opts.maxBytes, (file) => opts.pool.warm(file), {
      evict: () => events.evict?.(),
      rewarm: () => events.rewarm?.(),
      rewarmFailed: (file, err) => events.unreadable?.(file, err),
      truncated: (file) => {
        this.reads.delete(file); // its facts describe bytes that are gone
        events.truncated?.(file);
      },
      mismatch: (file) => {
        this.reads.delete(file); // its block checksums describe bytes that are gone too
        events.changedUnderRead?.(file);
      },
    });
    this.reads = new ReadTier<ReadEntry<R>>({ diskRead: (direct) => events.diskRead?.(direct), mismatch: (file) => events.changedUnderRead?.(file) });
    this.negative = new LRUCache({ max: 10_000, ttl: Math.max(1, opts.validityMs) });
  }

  /** The fast path: a ready object whose stat is still within the validity window. */
  hot(file: string): Entry<R> | undefined {
    const now = Date.now();
    const e = this.memory.get(file, now);
    if (e === undefined || now - e.checkedAt > this.opts.validityMs) return undefined;
    this.events.hit?.('memory');
    return e;
  }

  async fetch(file: string, mount: Mount): Promise<Outcome<R>> {
    const cached = this.memory.get(file); // (never a poisoned object: the memory tier drops those)
    if (cached !== undefined) {
      const fresh = await this.revalidate(cached, () => this.memory.deleteIf(file, cached));
      if (fresh !== undefined) {
        this.events.hit?.('memory');
        return { kind: 'found', entry: fresh };
      }
    }
    const known = this.reads.get(file);
    if (known !== undefined) {
      const fresh = Date.now() - known.checkedAt <= this.opts.validityMs ? known : await this.revalidate(known, () => this.reads.deleteIf(file, known));
      if (fresh !== undefined && (await fresh.usable())) {
        this.events.hit?.('read');
        if (fresh.hotterThan(this.memory)) this.promote(file, mount);
        return { kind: 'found', entry: fresh };
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

  /** Loads an object of the read tier back into memory, in the background (this request is read). */
  private promote(file: string, mount: Mount): void {
    if (this.pending.has(file)) return;
    this.events.promote?.();
    const p = this.loadAndInsert(file, mount).finally(() => this.pending.delete(file));
    this.pending.set(file, p);
    p.catch(() => undefined); // nobody awaits a promotion: a failure must not become an unhandled rejection
  }

  clear(): void {
    this.memory.clear();
    this.reads.clear();
    this.negative.clear();
  }

  /**
   * What describes files changed (a new manifest): rebuild every cached object's response data,
   * drop those whose bytes the new manifest contradicts (the next request reloads and refuses
   * them), and forget refusals, which the new manifest may no longer justify.
   */
  redescribe(): void {
    const contradicted = (file: string, f: ObjectFacts): boolean => {
      const exp = this.opts.verify ? this.opts.expected?.(file) : undefined;
      return exp !== undefined && exp.size === f.size && exp.mtimeMs === f.mtimeMs && exp.crc32c !== f.crc32c;
    };
    for (const [file, e] of this.memory.entries()) {
      if (contradicted(file, e.file)) this.memory.delete(file);
      else e.rep = this.opts.describe(e.file);
    }
    for (const [file, e] of this.reads.entries()) {
      if (contradicted(file, e.file)) this.reads.delete(file);
      else e.rep = this.opts.describe(e.file);
    }
    this.negative.clear();
  }

  /** `e` if a stat shows its file unchanged (one stat shared by concurrent requests), else `drop()` it. */
  private revalidate<E extends Checked<E>>(e: E, drop: () => void): Promise<E | undefined> {
    e.revalidating ??= stat(e.file.file)
      .then(
        (st) => {
          const same = st.size === e.file.size && st.mtimeMs === e.file.mtimeMs && st.ino === e.file.ino;
          if (!same) {
            drop();
            return undefined;
          }
          e.checkedAt = Date.now();
          return e;
        },
        () => {
          drop();
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
      mismatched: false,
      usedAt: Date.now(),
    };
    this.memory.set(file, entry);
    const facts = readFacts(stored);
    if (facts !== undefined) this.reads.set(new ReadEntry(file, facts, entry.rep, this.reads));
    return { kind: 'found', entry };
  }
}

