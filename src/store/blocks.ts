/**
 * Block checksums: a file's CRC32C per 64 KiB block, so any range of it can be read and checked
 * by reading only the blocks it touches, not the whole file. The file's own CRC32C (its ETag) is
 * derived from the block CRCs by combining them (zlib's crc32_combine, for the Castagnoli
 * polynomial), never computed in a separate pass: a file rewritten between two passes could
 * otherwise leave blocks that describe new bytes under an ETag that describes the old ones.
 */

/** Block size: small enough that a small range reads little extra, large enough that a table is small (64 B per MiB). */
export const BLOCK = 64 * 1024;

/** CRC32C's polynomial, reflected. */
const POLY = 0x82f63b78;

/** a·b modulo the polynomial (bit-reflected operands: x^0 is the top bit). */
function multModP(a: number, b: number): number {
  let m = 0x80000000;
  let p = 0;
  for (;;) {
    if ((a & m) !== 0) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? (b >>> 1) ^ POLY : b >>> 1;
  }
  return p >>> 0;
}

/** X2N[k] = x^(2^k) modulo the polynomial. */
const X2N: number[] = [];
for (let k = 0, p = 1 << 30; k < 32; k++) {
  X2N.push(p);
  p = multModP(p, p);
}

/** x^(n·2^k) modulo the polynomial. */
function xPow(n: number, k: number): number {
  let p = 0x80000000; // x^0
  while (n > 0) {
    if (n % 2 === 1) p = multModP(X2N[k & 31]!, p);
    n = Math.floor(n / 2);
    k++;
  }
  return p;
}

/** The CRC32C of a ++ b, from crc(a), crc(b) and b's length. */
export function crc32cCombine(crcA: number, crcB: number, lengthB: number): number {
  return (multModP(xPow(lengthB, 3), crcA) ^ crcB) >>> 0;
}

const FULL_BLOCK_SHIFT = xPow(BLOCK, 3);

/** Number of blocks of a file of `size` bytes (an empty file has none). */
export const blockCount = (size: number): number => Math.ceil(size / BLOCK);

/**
 * The block table of `size` bytes, each block's CRC32C from `crcOf(offset, length)`, and the
 * whole file's CRC32C combined from them.
 */
export function blockTable(size: number, crcOf: (offset: number, length: number) => number): { blocks: Uint32Array; crc32c: number } {
  const blocks = new Uint32Array(blockCount(size));
  let whole = 0;
  for (let i = 0; i < blocks.length; i++) {
    const length = Math.min(BLOCK, size - i * BLOCK);
    const crc = crcOf(i * BLOCK, length);
    blocks[i] = crc;
    whole = i === 0 ? crc : length === BLOCK ? (multModP(FULL_BLOCK_SHIFT, whole) ^ crc) >>> 0 : crc32cCombine(whole, crc, length);
  }
  return { blocks, crc32c: whole };
}

/**
 * Whether `bytes`, read from the file at block index `first`, match the table: every block whole
 * (the last block of the file may be short, and `bytes` must then end with it).
 */
export function blocksMatch(bytes: Uint8Array, first: number, table: Uint32Array, size: number, crc: (b: Uint8Array) => number): boolean {
  for (let off = 0, i = first; off < bytes.length; off += BLOCK, i++) {
    const length = Math.min(BLOCK, size - i * BLOCK);
    if (i >= table.length || off + length > bytes.length) return false;
    if (crc(bytes.subarray(off, off + length)) !== table[i]) return false;
  }
  return true;
}
