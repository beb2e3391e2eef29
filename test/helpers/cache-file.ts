/** Pieces of disk-cache files (src/store/disk/format.ts) for tests that write them by hand. */
import { MAGIC } from '../../src/store/disk/format.js';

/** A file's 12-byte tail claiming a trailer of `n` bytes: the length as u32 LE, then the magic. */
export function tailOf(n: number, magic: Buffer = MAGIC): Buffer {
  const t = Buffer.alloc(4 + magic.length);
  t.writeUInt32LE(n, 0);
  magic.copy(t, 4);
  return t;
}
