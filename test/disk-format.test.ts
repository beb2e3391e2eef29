// The disk cache's file format (src/store/disk/format.ts) on its own: names, the trailer, and
// every way a file's tail or trailer can disagree with the file it came from. A real file in a
// temporary directory is written and read back the way the verifier does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { native } from '../src/native/index.js';
import { loadCached } from '../workers/cached.js';
import { fdsOn, mappingsOf } from './helpers/native.js';
import { tailOf } from './helpers/cache-file.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeTrailer, encodeTrailer, keyHash, keyHasher, objectPath, TAIL_BYTES, trailerLength, type CachedMeta } from '../src/store/disk/format.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'segd-format-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const KEY = 'http://origin/live/seg1.ts';
const meta = (body: Buffer, more: Partial<Record<keyof CachedMeta, unknown>> = {}): CachedMeta =>
  ({ v: 1, key: KEY, length: body.length, crc32c: 12345, requestTime: 1, responseTime: 2, headers: { 'content-type': 'video/mp2t' }, ...more }) as CachedMeta;

/** body ‖ trailer, as a fill writes it. */
const file = (body: Buffer, m: CachedMeta = meta(body)): Buffer => Buffer.concat([body, encodeTrailer(m)]);

/** Reads a file's trailer back as src/store/disk/verify.ts does. */
function readBack(bytes: Buffer, key = KEY): CachedMeta | undefined {
  const n = trailerLength(bytes.subarray(bytes.length - TAIL_BYTES), bytes.length);
  if (n === undefined) return undefined;
  return decodeTrailer(bytes.subarray(bytes.length - TAIL_BYTES - n, bytes.length - TAIL_BYTES), bytes.length, key);
}

describe('names', () => {
  it('keys by SHA-256, in hex, under data/ and the hash’s first two digits', () => {
    const h = keyHash('abc');
    expect(h).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(objectPath('/cache', h)).toBe(`/cache/data/ba/${h}`);
  });

  it('remembers the hashes of recent keys, and starts over past its bound', () => {
    const asked: string[] = [];
    const hashOf = keyHasher(2, (k) => (asked.push(k), keyHash(k)));
    expect(hashOf('abc')).toBe(keyHash('abc'));
    expect(hashOf('abc')).toBe(keyHash('abc'));
    expect(asked).toEqual(['abc']); // the second time from memory
    hashOf('def');
    hashOf('ghi'); // the third key: what was remembered is forgotten
    hashOf('def');
    expect(asked).toEqual(['abc', 'def', 'ghi', 'def']);
    expect(hashOf('ghi')).toBe(keyHash('ghi'));
    expect(asked).toHaveLength(4);
  });
});

describe('trailer', () => {
  it('is the JSON, its length as u32 LE and the magic "SEGDC\\0\\1\\n", and reads back from a real file', () => {
    const body = Buffer.from('0123456789');
    const m = meta(body);
    const t = encodeTrailer(m);
    const json = Buffer.from(JSON.stringify(m));
    expect(TAIL_BYTES).toBe(12);
    expect(t.length).toBe(json.length + 12);
    expect(t.subarray(0, json.length).equals(json)).toBe(true);
    expect(t.readUInt32LE(json.length)).toBe(json.length);
    expect(t.subarray(json.length + 4).toString('latin1')).toBe('SEGDC\0\x01\n');
    const path = join(dir, keyHash(KEY));
    writeFileSync(path, file(body, m));
    expect(readBack(readFileSync(path))).toEqual(m);
  });

  it('an empty body is a valid object', () => {
    const body = Buffer.alloc(0);
    expect(readBack(file(body))).toEqual(meta(body));
  });
});

describe('trailerLength', () => {
  // [what, tail, file size, trailer length or undefined]
  const table: [string, Buffer, number, number | undefined][] = [
    ['a trailer that fits the file', tailOf(100), 112, 100],
    ['a trailer and a body', tailOf(100), 5000, 100],
    ['a trailer one byte longer than the file has room for', tailOf(101), 112, undefined],
    ['an empty trailer', tailOf(0), 112, undefined],
    ['the largest trailer, 64 KiB', tailOf(65_536), 65_548, 65_536],
    ['a trailer over 64 KiB', tailOf(65_537), 1_000_000, undefined],
    ['another magic', tailOf(100, Buffer.from('SEGDC\0\x02\n', 'latin1')), 5000, undefined],
    ['a short tail', tailOf(100).subarray(1), 5000, undefined],
    ['a long tail', Buffer.concat([Buffer.alloc(1), tailOf(100)]), 5000, undefined],
  ];
  it.each(table)('%s', (_what, tail, size, n) => {
    expect(trailerLength(tail, size)).toBe(n);
  });
});

describe('decodeTrailer', () => {
  const body = Buffer.from('segment bytes');
  // [what, trailer JSON, key, file size (by default body + json + tail), accepted]
  const cases: [string, string, string, number | undefined, boolean][] = [
    ['as written', JSON.stringify(meta(body)), KEY, undefined, true],
    ['another key’s trailer', JSON.stringify(meta(body)), 'http://origin/live/seg2.ts', undefined, false],
    ['a file one byte longer', JSON.stringify(meta(body)), KEY, 1, false],
    ['a file one byte shorter', JSON.stringify(meta(body)), KEY, -1, false],
    ['not JSON', '{"v":1,', KEY, undefined, false],
    ['null', 'null', KEY, undefined, false],
    ['a number', '1', KEY, undefined, false],
    ['version 2', JSON.stringify(meta(body, { v: 2 })), KEY, undefined, false],
    ['a length in text', JSON.stringify(meta(body, { length: String(body.length) })), KEY, undefined, false],
    ['a fractional length', JSON.stringify(meta(body, { length: body.length + 0.5 })), KEY, undefined, false],
    ['a length past 2^53', JSON.stringify(meta(body, { length: 2 ** 53 + 2 })), KEY, undefined, false],
    ['a fractional checksum', JSON.stringify(meta(body, { crc32c: 1.5 })), KEY, undefined, false],
    ['no checksum', JSON.stringify(meta(body, { crc32c: undefined })), KEY, undefined, false],
    ['no headers', JSON.stringify(meta(body, { headers: undefined })), KEY, undefined, false],
    ['null headers', JSON.stringify(meta(body, { headers: null })), KEY, undefined, false],
    ['headers as text', JSON.stringify(meta(body, { headers: 'content-type: video/mp2t' })), KEY, undefined, false],
  ];
  it.each(cases)('%s', (_what, text, key, sizeDelta, ok) => {
    const json = Buffer.from(text);
    // The file size the trailer claims to describe: its body, this JSON and the tail.
    // A length that is no whole number is taken at its word, so only its check can refuse it.
    let m: { length?: unknown } | null = null;
    try {
      m = JSON.parse(text) as { length?: unknown } | null;
    } catch {}
    const claimed = typeof m?.length === 'number' ? m.length : body.length;
    const size = claimed + json.length + TAIL_BYTES + (sizeDelta ?? 0);
    const got = decodeTrailer(json, size, key);
    expect(got).toEqual(ok ? JSON.parse(text) : undefined);
  });
});

// A cache file loaded as the pool does it (workers/cached.ts), run here on the main thread: the
// pool's threads are out of the mutation tester's sight.
describe('loading a cache file', () => {
  const COPY = 64 * 1024;
  let n = 0;
  /** `body` ‖ its trailer (with the body's real CRC32C unless told), written to a file of its own. */
  function cacheFile(body: Buffer, more: Partial<Record<keyof CachedMeta, unknown>> = {}): { path: string; m: CachedMeta } {
    const m = meta(body, { crc32c: native.crc32c(body), ...more });
    const path = join(dir, `load-${++n}`);
    writeFileSync(path, file(body, m));
    return { path, m };
  }
  const load = (path: string, playlist = false, key = KEY) => loadCached({ file: path, key, copyLimit: COPY, playlist });

  it('copies a body of up to the copy limit, and checks it against the trailer', () => {
    const body = randomBody(COPY);
    const { path, m } = cacheFile(body);
    const r = load(path);
    expect(r).toMatchObject({ kind: 'copied', size: COPY, crc32c: m.crc32c, meta: m, fileSize: readFileSync(path).length });
    expect(r.kind === 'copied' && Buffer.from(r.bytes).equals(body)).toBe(true);
    expect(fdsOn(path)).toBe(0);
  });

  it('maps a body a byte over it, checksummed up to the trailer', () => {
    const body = randomBody(COPY + 1);
    const { path, m } = cacheFile(body);
    const r = load(path);
    expect(r).toMatchObject({ kind: 'mapped', size: COPY + 1, crc32c: m.crc32c, meta: m, fileSize: readFileSync(path).length });
    const h = native.adopt((r as Extract<typeof r, { kind: 'mapped' }>).token);
    expect(h.crc32c(0, body.length)).toBe(native.crc32c(body)); // (no Buffer: one would hold the mapping)
    h.close();
    expect(mappingsOf(path)).toBe(0);
    expect(fdsOn(path)).toBe(0);
  });

  it('copies a playlist over the copy limit (it is parsed and compressed)', () => {
    const body = Buffer.from('#EXTM3U\n#EXT-X-TARGETDURATION:6\n' + '#EXTINF:6.0,\nseg.ts\n'.repeat(5000) + '#EXT-X-ENDLIST\n');
    expect(body.length).toBeGreaterThan(COPY);
    const { path } = cacheFile(body);
    const r = load(path, true);
    expect(r).toMatchObject({ kind: 'copied', playlist: { master: false, endList: true } });
    expect(r.kind === 'copied' && r.gzip !== undefined).toBe(true);
  });

  it('maps a playlist over 64 MiB (served as opaque bytes, neither parsed nor compressed)', () => {
    const size = 64 * 1024 * 1024 + 1;
    const m = meta(Buffer.alloc(0), { length: size, crc32c: native.crc32c(Buffer.alloc(size)) });
    const path = join(dir, `load-${++n}`);
    writeFileSync(path, '');
    truncateSync(path, size); // sparse: zeros, no disk
    appendFileSync(path, encodeTrailer(m));
    const r = load(path, true);
    expect(r).toMatchObject({ kind: 'mapped', size, meta: m, fileSize: statSync(path).size });
    native.adopt((r as Extract<typeof r, { kind: 'mapped' }>).token).close();
  });

  it('a body whose bytes differ from the trailer\'s checksum is corrupt, copied or mapped, and leaves nothing open', () => {
    for (const size of [1000, COPY + 1000]) {
      const body = randomBody(size);
      const { path } = cacheFile(body, { crc32c: native.crc32c(body) ^ 1 });
      expect(load(path)).toEqual({ kind: 'corrupt', expected: native.crc32c(body) ^ 1, actual: native.crc32c(body) });
      expect(mappingsOf(path)).toBe(0);
      expect(fdsOn(path)).toBe(0);
    }
  });

  it('missing, too short, without a trailer, or for another key', () => {
    expect(load(join(dir, 'no-such-file'))).toEqual({ kind: 'missing' });
    const short = join(dir, 'short');
    writeFileSync(short, Buffer.alloc(TAIL_BYTES - 1));
    expect(load(short)).toEqual({ kind: 'invalid', reason: 'too short for a cache file' });
    const bare = join(dir, 'bare');
    writeFileSync(bare, Buffer.alloc(TAIL_BYTES));
    expect(load(bare)).toEqual({ kind: 'invalid', reason: 'no cache trailer' });
    const { path } = cacheFile(randomBody(10));
    expect(load(path, false, 'http://origin/other.ts')).toEqual({ kind: 'invalid', reason: 'trailer does not describe this file or key' });
    for (const p of [short, bare, path]) expect(fdsOn(p)).toBe(0);
  });

  it('any other failure to open is thrown, not taken for a missing file', () => {
    const { path } = cacheFile(randomBody(10));
    expect(() => load(join(path, 'below-a-file'))).toThrow(expect.objectContaining({ code: 'ENOTDIR' }));
  });
});

function randomBody(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 2654435761) >>> 24;
  return b;
}
