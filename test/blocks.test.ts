// Block checksums (src/store/blocks.ts): the combined CRC equals the CRC of the whole, for every
// shape of file around the block size, and a read matches its table only when it should.
import { beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { native } from '../src/native/index.js';
import { BLOCK, blockCount, blocksMatch, blockTable, crc32cCombine } from '../src/store/blocks.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import { copied, isPlaylist, mapped } from '../workers/bytes.js';
import { mappingsOf } from './helpers/native.js';

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

// What a pool task makes of a file's bytes (workers/bytes.ts), run here on the main thread: the
// pool's threads are out of the mutation tester's sight.
describe('a load: mapped or copied', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'segd-bytes-'));
    return () => rmSync(dir, { recursive: true, force: true });
  });

  it('isPlaylist: a name ending in .m3u8, in any case', () => {
    expect(['a.m3u8', 'dir/B.M3U8', '/x/c.M3u8'].map(isPlaylist)).toEqual([true, true, true]);
    expect(['a.m3u8.ts', 'a.m3u', 'm3u8', 'a.ts', ''].map(isPlaylist)).toEqual([false, false, false, false, false]);
  });

  it('mapped: the first `length` bytes checksummed block by block, the facts, and one handle for the main thread', () => {
    const bytes = randomBytes(3 * BLOCK + 77);
    const file = join(dir, 'mapped.bin');
    writeFileSync(file, bytes);
    const length = 2 * BLOCK + 5; // a cache file's body: the rest is its trailer
    const r = mapped(file, bytes.length, length, 1234.5, 42, undefined);
    expect(r).toMatchObject({ kind: 'mapped', size: length, mtimeMs: 1234.5, ino: 42, crc32c: crc(bytes.subarray(0, length)) });
    expect(r.kind === 'mapped' && [...r.blocks!]).toEqual([...tableOf(bytes.subarray(0, length)).blocks]);
    const m = native.adopt((r as Extract<typeof r, { kind: 'mapped' }>).token);
    expect(m.crc32c(0, bytes.length)).toBe(crc(bytes)); // the whole file (no Buffer: one would hold the mapping)
    m.close();
    expect(mappingsOf(file)).toBe(0); // the task's own handle was closed: the token held the only other
  });

  it('mapped with a checksum taken on trust: that checksum and no block table', () => {
    const file = join(dir, 'trusted.bin');
    writeFileSync(file, randomBytes(1000));
    const r = mapped(file, 1000, 1000, 0, 0, 0xabc);
    expect(r).toMatchObject({ kind: 'mapped', crc32c: 0xabc, blocks: undefined });
    native.adopt((r as Extract<typeof r, { kind: 'mapped' }>).token).close();
  });

  it('mapped: a file whose size is not the size it was stat()ed at changed while loading', () => {
    const file = join(dir, 'changed.bin');
    writeFileSync(file, randomBytes(1000));
    expect(() => mapped(file, 999, 999, 0, 0, undefined)).toThrow(expect.objectContaining({ code: 'ESEGDCHANGED', message: `file changed while loading: ${file}` }));
    expect(mappingsOf(file)).toBe(0);
  });

  it('copied: the bytes and their checksum (or the trusted one), and nothing of a playlist', () => {
    const bytes = randomBytes(5000);
    const r = copied(bytes, false, 7, 8, undefined);
    expect(r).toEqual({ kind: 'copied', bytes, size: 5000, mtimeMs: 7, ino: 8, crc32c: crc(bytes) });
    expect(copied(bytes, false, 7, 8, 99)).toMatchObject({ crc32c: 99 });
  });

  it('copied as a playlist: parsed, and compressed as hard as gzip and brotli go', () => {
    const text = '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:6\n' + Array.from({ length: 200 }, (_, i) => `#EXTINF:6.0,\nseg${i}.ts\n`).join('') + '#EXT-X-ENDLIST\n';
    const bytes = Buffer.from(text);
    const r = copied(bytes, true, 1, 2, undefined);
    if (r.kind !== 'copied') throw new Error('not a copy');
    expect(r.playlist).toEqual({ master: false, endList: true, targetDuration: 6 });
    expect(r.playlistProblem).toBeUndefined();
    expect(gunzipSync(r.gzip!).equals(bytes)).toBe(true);
    expect(brotliDecompressSync(r.br!).equals(bytes)).toBe(true);
    expect(r.gzip!.length).toBeLessThanOrEqual(gzipSync(bytes, { level: 9 }).length);
    expect(r.br!.length).toBeLessThan(r.gzip!.length);
  });

  it('copied as a playlist: a problem is reported, and a variant that would be larger is not offered', () => {
    const bytes = Buffer.from('#EXTM3U\n');
    const r = copied(bytes, true, 1, 2, undefined);
    if (r.kind !== 'copied') throw new Error('not a copy');
    expect(r.gzip).toBeUndefined(); // gzip's header alone is 18 bytes
    expect(r.br === undefined || r.br.length < bytes.length).toBe(true);
    const bad = copied(Buffer.from('not a playlist at all\n'), true, 1, 2, undefined);
    if (bad.kind !== 'copied') throw new Error('not a copy');
    expect(bad.playlist).toBeUndefined();
    expect(bad.playlistProblem).toEqual(expect.any(String));
  });
});
