/**
 * segd native layer: zero-copy mmap'd file ranges, page-cache warming, CRC32C.
 *
 * Backed by the Rust Node-API addon in `native/` (built with `npm run build:native`), or by the
 * pure-TS fallback in ./fallback.ts when the addon is missing or `SEGD_NATIVE=0`
 * (`SEGD_NATIVE=1` makes a missing/broken addon a hard error instead).
 *
 * Which implementation is active: `nativeDescription()` returns a one-line string meant for the
 * server's startup log; with `SEGD_NATIVE_LOG=1` the same line is also printed once on stderr (main thread only).
 *
 * Truncation safety (addon): a file truncated while mapped would make page accesses past the
 * new EOF raise SIGBUS and kill the process. The addon installs a process-wide SIGBUS handler
 * that, for faults inside its own mappings, maps zero pages over the rest of the mapping, marks
 * it `poisoned` and lets execution continue; `warm()`/`crc32c()` then throw ESEGDPOISONED.
 * Faults anywhere else are chained to the previous disposition (genuine bugs still crash).
 */
import { constants as bufferConstants } from 'node:buffer';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread } from 'node:worker_threads';
import { adoptFallbackToken, checkIndex, fallback } from './fallback.js';

export interface Mapping {
  readonly size: number; // file size in bytes at map time
  /** Zero-copy Buffer viewing [offset, offset+length) of the mapping (napi_create_external_buffer; finalizer drops a refcount). Stays valid after close(). Throws RangeError ERR_OUT_OF_RANGE outside [0,size]. length 0 allowed. */
  slice(offset: number, length: number): Buffer;
  /** madvise(WILLNEED) then touch one byte per page, so later reads don't fault on disk. Slow: call it in a worker. */
  warm(): void;
  /** mincore(): true when every page of [offset, offset+length) is resident in RAM. */
  resident(offset: number, length: number): boolean;
  /** CRC32C of [offset, offset+length) (defaults: whole mapping), seeded. */
  crc32c(offset?: number, length?: number, seed?: number): number;
  /** true once this mapping took a SIGBUS (file truncated under it); its bytes can no longer be trusted. */
  readonly poisoned: boolean;
  /** Hand this mapping to another thread: returns a structured-clonable token holding one reference; adopt() it exactly once in any thread of this process. */
  transfer(): MappingToken;
  /** Drop this handle's reference (idempotent). Buffers already sliced keep the memory alive; the mapping is unmapped when the last reference goes. */
  close(): void;
}
export type MappingToken = { readonly __mappingToken: unknown }; // opaque; addon: {id:number}; fallback: {bytes: ArrayBuffer}
export interface Native {
  readonly kind: 'addon' | 'fallback';
  readonly crcImpl: string; // e.g. 'sse4.2-3way', 'table-slice8', 'ts-table'
  map(path: string): Mapping; // open + fstat + mmap(PROT_READ, MAP_SHARED) + close fd. Empty file ok (size 0).
  adopt(token: MappingToken): Mapping;
  crc32c(data: Uint8Array, seed?: number): number; // streaming: crc32c(b, crc32c(a)) === crc32c(a+b)
  /** Raise the soft RLIMIT_NOFILE to the hard limit where possible; returns the soft limit in force. */
  raiseFileLimit(): number;
  /**
   * pread into `buffer` until it is full or the file ends (short reads and EINTR looped over);
   * returns the bytes read. `nowait`: stop at the first byte not in the page cache instead of
   * waiting for the disk (preadv2 RWF_NOWAIT; the TypeScript fallback cannot tell, so it reads
   * nothing), for a caller on the event loop that reads the rest elsewhere.
   */
  readAt(fd: number, buffer: Uint8Array, position: number, nowait?: boolean): number;
  /**
   * A zeroed Buffer of `size` bytes starting at a page boundary, which an O_DIRECT read needs
   * (the address, the offset and the length in multiples of 4 KiB); undefined from the
   * TypeScript fallback, which cannot place a Buffer.
   */
  alignedBuffer(size: number): Buffer | undefined;
  /** The bench-only exports: present only in an addon built with `--features bench` (node native/build.mjs --bench). */
  readonly bench: NativeBench | undefined;
}

/** What bench/native.ts compares the byte path with; segd itself never calls these. */
export interface NativeBench {
  /** The slicing-by-8 table CRC32C (what crc32c falls back to on a CPU without SSE4.2). */
  crc32cPortable(data: Uint8Array, seed?: number): number;
}

// ---------------- the addon's raw (private) exports ----------------

/**
 * Every export of the default build: the `exports!` call in native/src/lib.rs, which is the
 * source of truth; test/native-api.test.ts loads the addon and compares it with this list.
 */
export const ADDON_EXPORTS = [
  'map', 'adopt', 'size', 'slice', 'view', 'warm', 'resident', 'crc32cMap', 'poisoned', 'transfer', 'close',
  'crc32c', 'sigbusFaults', 'liveHandles', 'raiseFileLimit', 'readAt', 'alignedBuffer', 'crcImpl',
] as const;
/** The exports only `--features bench` adds (test/native-bench.test.ts checks that build). */
export const BENCH_EXPORTS = ['crc32cPortable'] as const;

declare const handleBrand: unique symbol;
/** napi external owning one reference to a mapping. */
type Handle = { readonly [handleBrand]: true };

/** The signature of each export, by name. */
interface Signatures {
  readonly crcImpl: string;
  map(path: string): Handle;
  adopt(id: number): Handle;
  size(h: Handle): number;
  /** One external Buffer per call for exactly [offset, offset+length). */
  slice(h: Handle, offset: number, length: number): Buffer;
  /** External Buffer over the whole mapping (holds one reference until collected). */
  view(h: Handle): Buffer;
  warm(h: Handle): void;
  resident(h: Handle, offset: number, length: number): boolean;
  crc32cMap(h: Handle, offset?: number, length?: number, seed?: number): number;
  poisoned(h: Handle): boolean;
  transfer(h: Handle): number;
  close(h: Handle): void;
  crc32c(data: Uint8Array, seed?: number): number;
  /** SIGBUS faults repaired so far in this process. */
  sigbusFaults(): number;
  /** Mapping handles not finalized yet, on every thread (closed ones included until their GC). */
  liveHandles(): number;
  raiseFileLimit(): number;
  readAt(fd: number, buffer: Uint8Array, position: number, nowait?: boolean): number;
  alignedBuffer(size: number): Buffer;
  crc32cPortable(data: Uint8Array, seed?: number): number;
}
type AddonExport = (typeof ADDON_EXPORTS)[number];
type BenchExport = (typeof BENCH_EXPORTS)[number];
/** What the loaded addon is: the listed exports with their signatures; the bench ones only in that build. */
type RawAddon = Pick<Signatures, AddonExport> & Partial<Pick<Signatures, BenchExport>>;
// A signature whose name is in neither list does not compile (nor, through Pick, a listed name
// without a signature): `Unlisted` must be never.
type MustBeNever<T extends never> = T;
type Unlisted = MustBeNever<Exclude<keyof Signatures, AddonExport | BenchExport>>;

const ADDON_BASENAME = 'segd';
const MAX_LENGTH = bufferConstants.MAX_LENGTH;

/**
 * The addon's file name on this platform, or undefined where no addon can exist:
 * native/src/sys/libc.rs declares glibc's structs by hand for Linux on x64 and arm64 and refuses
 * to build for anything else. (`napi build --platform` names the file segd.linux-x64-gnu.node.)
 */
export function addonFileName(platform: string = process.platform, arch: string = process.arch): string | undefined {
  return platform === 'linux' && (arch === 'x64' || arch === 'arm64') ? `${ADDON_BASENAME}.linux-${arch}-gnu.node` : undefined;
}

/** Candidate addon paths: $SEGD_NATIVE_PATH, then <package root>/native/<addonFileName()>, where the
 * package root is found by walking up from this file (works from src/ and from dist/src/). */
function candidatePaths(): string[] {
  const out: string[] = [];
  if (process.env.SEGD_NATIVE_PATH) out.push(path.resolve(process.env.SEGD_NATIVE_PATH));
  const name = addonFileName();
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; name !== undefined && i < 5; i++) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'native'))) {
      out.push(path.join(dir, 'native', name));
      break;
    }
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return out;
}

let description = '';

function loadAddon(): RawAddon | null {
  const mode = process.env.SEGD_NATIVE;
  if (mode === '0') {
    description = 'segd native: pure-TS fallback (SEGD_NATIVE=0)';
    return null;
  }
  const errors: string[] = [];
  for (const p of candidatePaths()) {
    if (!fs.existsSync(p)) continue;
    try {
      // process.dlopen, not require(): require() reads any name not ending in .node as
      // JavaScript, and cargo's own output is target/release/libsegd_native.so.
      const module = { exports: {} as RawAddon };
      process.dlopen(module, p);
      description = `segd native: addon ${p} (crc32c ${module.exports.crcImpl})`;
      return module.exports;
    } catch (e) {
      errors.push(`${p}: ${(e as Error).message}`);
    }
  }
  const why =
    errors.length > 0
      ? `failed to load: ${errors.join('; ')}`
      : addonFileName() === undefined
        ? `not available for ${process.platform}-${process.arch} (Linux glibc on x64 and arm64 only)`
        : 'not built (run npm run build:native)';
  if (mode === '1') throw new Error(`segd native addon required (SEGD_NATIVE=1) but ${why}`);
  description = `segd native: pure-TS fallback (addon ${why})`;
  return null;
}

const raw = loadAddon();

/** One line saying which implementation is active, for the server's startup log. */
export function nativeDescription(): string {
  return description;
}

if (process.env.SEGD_NATIVE_LOG === '1' && isMainThread) {
  // Once per process: workers load their own module instance but stay quiet.
  process.stderr.write(`${description}\n`);
}

// ---------------- addon-backed implementation ----------------

class AddonMapping implements Mapping {
  readonly size: number;
  readonly #raw: RawAddon;
  readonly #h: Handle;
  /** Lazily created whole-mapping view; slices are subarrays of it (see slice()). */
  #whole: Buffer | null = null;
  #sliced = 0;

  constructor(rawAddon: RawAddon, h: Handle) {
    this.#raw = rawAddon;
    this.#h = h;
    this.size = rawAddon.size(h);
  }
  /**
   * Zero-copy. The first slice of a handle is its own external Buffer of exactly the range (the
   * map-per-request pattern then makes V8 account only the bytes it serves); later slices are
   * subarrays of one external Buffer over the whole mapping, created at the second slice. A
   * fresh external Buffer per slice would make V8 count every slice's bytes as new external
   * memory and run a full GC every ~64 MiB sliced (measured: 1 MiB slices ~28 us each instead
   * of ~0.1 us). Either way the Buffer holds a reference, so it stays valid after close().
   */
  slice(offset: number, length: number): Buffer {
    if ((this.#whole === null && this.#sliced++ === 0) || this.size > MAX_LENGTH) {
      return this.#raw.slice(this.#h, offset, length); // (a whole view can't exceed MAX_LENGTH)
    }
    const whole = this.#whole ?? (this.#whole = this.#raw.view(this.#h));
    checkIndex('offset', offset, this.size);
    checkIndex('length', length, this.size - offset);
    return whole.subarray(offset, offset + length);
  }
  warm(): void {
    this.#raw.warm(this.#h);
  }
  resident(offset: number, length: number): boolean {
    return this.#raw.resident(this.#h, offset, length);
  }
  crc32c(offset?: number, length?: number, seed?: number): number {
    return this.#raw.crc32cMap(this.#h, offset, length, seed);
  }
  get poisoned(): boolean {
    return this.#raw.poisoned(this.#h);
  }
  transfer(): MappingToken {
    return { __mappingToken: 'addon', id: this.#raw.transfer(this.#h) } as unknown as MappingToken;
  }
  close(): void {
    this.#whole = null;
    this.#raw.close(this.#h);
  }
}

function addonNative(r: RawAddon): Native {
  const { crc32cPortable } = r;
  return {
    kind: 'addon',
    crcImpl: r.crcImpl,
    map: (p: string) => new AddonMapping(r, r.map(p)),
    adopt(token: MappingToken): Mapping {
      const t = token as unknown as { __mappingToken?: unknown; id?: unknown };
      if (t?.__mappingToken === 'fallback') return adoptFallbackToken(token);
      if (t?.__mappingToken !== 'addon' || typeof t.id !== 'number') {
        const e = new TypeError('not a mapping token');
        (e as NodeJS.ErrnoException).code = 'ERR_SEGD_BAD_TOKEN';
        throw e;
      }
      return new AddonMapping(r, r.adopt(t.id));
    },
    crc32c: (data, seed) => r.crc32c(data, seed),
    raiseFileLimit: () => r.raiseFileLimit(),
    readAt: (fd, buffer, position, nowait) => r.readAt(fd, buffer, position, nowait),
    alignedBuffer: (size) => r.alignedBuffer(size),
    bench: crc32cPortable !== undefined ? { crc32cPortable } : undefined,
  };
}

export const native: Native = raw ? addonNative(raw) : fallback;

/** SIGBUS faults the addon repaired in this process (files truncated under a live mapping); 0 for the fallback. */
export function sigbusFaults(): number {
  return raw ? raw.sigbusFaults() : 0;
}

/** The addon's mapping handles not yet finalized (0 on the TypeScript path, which has none). */
export function nativeHandles(): number {
  return raw ? raw.liveHandles() : 0;
}
