// Block checksums (src/store/blocks.ts): the combined CRC equals the CRC of the whole, for every
// shape of file around the block size, and a read matches its table only when it should.
import { beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { native } from '../src/native/index.js';
import { BLOCK, blockCount, blocksMatch, blockTable, crc32cCombine } from '../src/store/blocks.js';

const crc = (b: Uint8Array): number => native.crc32c(b);
const tableOf = (bytes: Buffer): ReturnType<typeof blockTable> => blockTable(bytes.length, (o, n) => crc(bytes.subarray(o, o + n)));

describe('crc32cCombine', () => {
  it.each([0, 1, 7, 4096, BLOCK - 1, BLOCK, BLOCK + 3, 1_000_003])('crc(a ++ b) from crc(a), crc(b) and %i bytes of b', (n) => {
    const a = randomBytes(1234);
    const b = randomBytes(n);
    expect(crc32cCombine(crc(a), crc(b), n)).toBe(crc(Buffer.concat([a, b])));
  });
});

describe('blockTable', () => {
  it('asks for each block once, in order, the short last one by its length', () => {
    const asked = (size: number): [number, number][] => {
      const calls: [number, number][] = [];
      blockTable(size, (o, n) => {
        if (calls.push([o, n]) > 100) throw new Error('more blocks asked for than the file has');
        return 0;
      });
      return calls;
    };
    expect(asked(0)).toEqual([]);
    expect(asked(BLOCK)).toEqual([[0, BLOCK]]);
    expect(asked(2 * BLOCK + 5)).toEqual([[0, BLOCK], [BLOCK, BLOCK], [2 * BLOCK, 5]]);
  });

  it.each([
    [0, 0],
    [1, 1],
    [BLOCK - 1, 1],
    [BLOCK, 1],
    [BLOCK + 1, 2],
    [3 * BLOCK, 3],
    [16 * BLOCK + 12345, 17],
  ])('a file of %i bytes: %i CRCs, one per block, and the whole CRC combined from them', (size, count) => {
    expect(blockCount(size)).toBe(count); // first: a wrong count could ask for billions of blocks
    const bytes = randomBytes(size);
    const { blocks, crc32c } = tableOf(bytes);
    expect(blocks.length).toBe(count);
    expect(crc32c).toBe(crc(bytes));
    for (let i = 0; i < blocks.length; i++) expect(blocks[i]).toBe(crc(bytes.subarray(i * BLOCK, (i + 1) * BLOCK)));
  });
});

describe('blocksMatch', () => {
  const size = 5 * BLOCK + 100;
  const bytes = randomBytes(size);
  // Built in a hook, not while collecting: a broken blockTable then fails these tests rather
  // than the file's collection, which Stryker's vitest runner counts as no failure at all.
  let blocks: Uint32Array;
  beforeAll(() => {
    blocks = tableOf(bytes).blocks;
  });
  const match = (b: Uint8Array, first: number): boolean => blocksMatch(b, first, blocks, size, crc);

  it('whole blocks read from the file match, from any block on, the short last one included', () => {
    expect(match(bytes, 0)).toBe(true);
    expect(match(bytes.subarray(2 * BLOCK, 4 * BLOCK), 2)).toBe(true);
    expect(match(bytes.subarray(4 * BLOCK), 4)).toBe(true);
    expect(match(bytes.subarray(5 * BLOCK), 5)).toBe(true);
  });

  it('checks a read’s shape, not only its sums: a torn block fails even where every sum agrees', () => {
    const size = 2 * BLOCK + 100;
    const table = new Uint32Array(3).fill(7);
    const m = (n: number, first: number): boolean => blocksMatch(Buffer.alloc(n), first, table, size, () => 7);
    expect([m(size, 0), m(BLOCK, 1), m(BLOCK + 100, 1), m(100, 2)]).toEqual([true, true, true, true]);
    expect([m(BLOCK + 10, 0), m(BLOCK - 1, 0), m(99, 2), m(BLOCK + 99, 1)]).toEqual([false, false, false, false]);
  });

  it('a changed byte, a shifted read, a torn block or bytes past the table do not', () => {
    const changed = Buffer.from(bytes);
    changed[3 * BLOCK + 17]! ^= 1;
    expect(match(changed, 0)).toBe(false);
    expect(match(bytes.subarray(BLOCK, 3 * BLOCK), 2)).toBe(false);
    expect(match(bytes.subarray(0, BLOCK + 10), 0)).toBe(false);
    expect(match(bytes.subarray(5 * BLOCK, 5 * BLOCK + 99), 5)).toBe(false);
    expect(match(Buffer.concat([bytes.subarray(5 * BLOCK), randomBytes(BLOCK)]), 5)).toBe(false);
  });
});
