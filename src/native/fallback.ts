/**
 * Pure-TypeScript implementation of the `Native` API (see ./index.ts), used when the Rust
 * addon is missing or disabled with SEGD_NATIVE=0.
 *
 * `map()` reads the whole file into an ArrayBuffer (slices are zero-copy views and survive
 * close()); a token carries it to another thread as a copy. Not a SharedArrayBuffer: the pool
 * threads' garbage collector did not reclaim the shared buffers they had handed over (anonymous
 * memory reached 1.9 GB after 60,000 misses of 200 KB files; 100 MB, flat, with copies).
 * Nothing is mapped, so truncation can never fault (`poisoned` is always false) and `warm()` is
 * a no-op.
 */
import * as fs from 'node:fs';
import type { Mapping, MappingToken, Native } from './index.js';

// ---------------- CRC32C (Castagnoli, reflected), slicing-by-8 ----------------

const POLY = 0x82f63b78;
const TABLES: Int32Array[] = (() => {
  const t: Int32Array[] = [];
  for (let k = 0; k < 8; k++) t.push(new Int32Array(256));
  const t0 = t[0]!;
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let j = 0; j < 8; j++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t0[i] = c;
  }
  for (let i = 0; i < 256; i++) {
    for (let k = 1; k < 8; k++) {
      const prev = t[k - 1]![i]!;
      t[k]![i] = (prev >>> 8) ^ t0[prev & 0xff]!;
    }
  }
  return t;
})();

function checkSeed(seed: number | undefined): number {
  if (seed === undefined || seed === null) return 0;
  if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    const e = new RangeError(`The value of "seed" is out of range. It must be >= 0 and <= 4294967295. Received ${String(seed)}`);
    (e as NodeJS.ErrnoException).code = 'ERR_OUT_OF_RANGE';
    throw e;
  }
  return seed;
}

/** CRC32C with streaming seed: crc32cTable(b, crc32cTable(a)) === crc32cTable(a ++ b). */
export function crc32cTable(data: Uint8Array, seed?: number): number {
  if (!(data instanceof Uint8Array)) {
    const e = new TypeError('The "data" argument must be an instance of Buffer, TypedArray, or Uint8Array');
    (e as NodeJS.ErrnoException).code = 'ERR_INVALID_ARG_TYPE';
    throw e;
  }
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES as [Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array];
  let crc = ~checkSeed(seed);
  const n = data.length;
  let i = 0;
  const end8 = n - (n & 7);
  while (i < end8) {
    const lo = (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24)) ^ crc;
    crc =
      t7[lo & 0xff]! ^
      t6[(lo >>> 8) & 0xff]! ^
      t5[(lo >>> 16) & 0xff]! ^
      t4[lo >>> 24]! ^
      t3[data[i + 4]!]! ^
      t2[data[i + 5]!]! ^
      t1[data[i + 6]!]! ^
      t0[data[i + 7]!]!;
    i += 8;
  }
  while (i < n) crc = (crc >>> 8) ^ t0[(crc ^ data[i++]!) & 0xff]!;
  return ~crc >>> 0;
}

// ---------------- mappings ----------------

function rangeError(name: string, max: number, value: unknown): RangeError {
  const e = new RangeError(`The value of "${name}" is out of range. It must be >= 0 && <= ${max}. Received ${String(value)}`);
  (e as NodeJS.ErrnoException).code = 'ERR_OUT_OF_RANGE';
  return e;
}

export function checkIndex(name: string, value: unknown, max: number): number {
  if (typeof value !== 'number') {
    const e = new TypeError(`The "${name}" argument must be of type number`);
    (e as NodeJS.ErrnoException).code = 'ERR_INVALID_ARG_TYPE';
    throw e;
  }
  if (!Number.isInteger(value) || value < 0 || value > max) throw rangeError(name, max, value);
  return value;
}

function closedError(): Error {
  const e = new Error('the mapping handle was closed');
  (e as NodeJS.ErrnoException).code = 'ERR_SEGD_CLOSED';
  return e;
}

export class FallbackMapping implements Mapping {
  readonly size: number;
  readonly poisoned = false;
  #bytes: ArrayBuffer | null;
  #view: Buffer | null;

  constructor(bytes: ArrayBuffer) {
    this.#bytes = bytes;
    this.#view = Buffer.from(bytes, 0, bytes.byteLength);
    this.size = bytes.byteLength;
  }

  #buf(): Buffer {
    if (!this.#view) throw closedError();
    return this.#view;
  }

  slice(offset: number, length: number): Buffer {
    const buf = this.#buf();
    checkIndex('offset', offset, this.size);
    checkIndex('length', length, this.size - offset);
    return buf.subarray(offset, offset + length);
  }

  warm(): void {
    this.#buf();
  }

  resident(offset: number, length: number): boolean {
    this.#buf();
    checkIndex('offset', offset, this.size);
    checkIndex('length', length, this.size - offset);
    return true;
  }

  crc32c(offset = 0, length?: number, seed?: number): number {
    const buf = this.#buf();
    checkIndex('offset', offset, this.size);
    const len = length ?? this.size - offset;
    checkIndex('length', len, this.size - offset);
    return crc32cTable(buf.subarray(offset, offset + len), seed);
  }

  transfer(): MappingToken {
    this.#buf();
    return { __mappingToken: 'fallback', bytes: this.#bytes } as unknown as MappingToken;
  }

  close(): void {
    if (!this.#view) return;
    this.#view = null;
    this.#bytes = null;
  }
}

/** Read the whole file (open + fstat + read loop + close) into memory. */
export function readWhole(path: string): ArrayBuffer {
  const fd = fs.openSync(path, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const bytes = new ArrayBuffer(size);
    const view = Buffer.from(bytes);
    let off = 0;
    while (off < size) {
      const n = fs.readSync(fd, view, off, size - off, off);
      if (n === 0) break; // truncated meanwhile: the tail stays zero, like the addon's repair
      off += n;
    }
    return bytes;
  } finally {
    fs.closeSync(fd);
  }
}

export function adoptFallbackToken(token: MappingToken): Mapping {
  const t = token as unknown as { __mappingToken?: unknown; bytes?: unknown };
  if (t?.__mappingToken !== 'fallback' || !(t.bytes instanceof ArrayBuffer)) {
    const e = new TypeError('not a mapping token');
    (e as NodeJS.ErrnoException).code = 'ERR_SEGD_BAD_TOKEN';
    throw e;
  }
  return new FallbackMapping(t.bytes);
}

export const fallback: Native = {
  kind: 'fallback',
  crcImpl: 'ts-table',
  map: (path: string) => new FallbackMapping(readWhole(path)),
  adopt: adoptFallbackToken,
  crc32c: crc32cTable,
  // Node has no setrlimit: report the soft limit as it is.
  raiseFileLimit: () => softFileLimit(),
  readAt,
  alignedBuffer: () => undefined,
  bench: undefined,
};

/** Node cannot ask for RWF_NOWAIT, so with `nowait` nothing is read: the caller reads off the loop. */
function readAt(fd: number, buffer: Uint8Array, position: number, nowait?: boolean): number {
  if (nowait === true) return 0;
  let filled = 0;
  while (filled < buffer.length) {
    const n = fs.readSync(fd, buffer, filled, buffer.length - filled, position + filled);
    if (n === 0) break;
    filled += n;
  }
  return filled;
}

/** The soft descriptor limit from /proc/self/limits (`Max open files  SOFT  HARD  files`). */
function softFileLimit(): number {
  const line = /^Max open files\s+(\S+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
  return line === null || line[1] === 'unlimited' ? Infinity : Number(line[1]);
}
