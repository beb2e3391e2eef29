// The catalogue's hashing task as the pool runs it (workers/hash.ts), here on the main thread: the
// pool's threads are out of the mutation tester's sight. Index and verify trust what it returns,
// so each field is checked against an independent computation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import hashTask, { parse } from '../workers/hash.js';
import { unwrap } from '../src/pool/carry.js';
import type { HashOutcome } from '../src/pool/tasks.js';
import { random, vodPlaylist } from './helpers/content.js';
import { fdsOn } from './helpers/native.js';

let root: string;
const big = random(256 * 1024 * 3 + 12_345); // three whole reads of the worker's buffer, then a short one
const hashed = (file: string, sha256?: boolean): HashOutcome => unwrap(hashTask({ path: join(root, file), ...(sha256 === undefined ? {} : { sha256 }) }));
const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('base64');

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'segd-hash-'));
  writeFileSync(join(root, 'check.bin'), '123456789');
  writeFileSync(join(root, 'big.bin'), big);
  writeFileSync(join(root, 'empty.bin'), '');
  writeFileSync(join(root, 'index.m3u8'), vodPlaylist(['a.ts', 'b.ts']));
  mkdirSync(join(root, 'dir'));
  symlinkSync(join(root, 'check.bin'), join(root, 'link.bin'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('hashing one file', () => {
  it('the CRC32C check value, the SHA-256 and the fstat facts of a small file', () => {
    const st = statSync(join(root, 'check.bin'));
    expect(hashed('check.bin')).toStrictEqual({ size: 9, statSize: 9, mtimeMs: st.mtimeMs, crc32c: 'e3069283', sha256: sha('123456789'), stable: true });
  });

  it('a file of several reads hashes as one piece', () => {
    // The CRC of the whole file in one call (the addon's or the fallback's) against the worker's chunked one.
    const whole = createHash('sha256').update(big).digest('base64');
    const out = hashed('big.bin');
    expect(out).toMatchObject({ size: big.length, statSize: big.length, sha256: whole, stable: true });
    expect(out.crc32c).toBe(hashed('big.bin', false).crc32c);
    expect(Number.parseInt(out.crc32c, 16)).toBe(crcOf(big));
  });

  it('leaves no descriptor open, after a hash or a refusal', () => {
    hashed('big.bin');
    expect(() => hashed('dir')).toThrow();
    expect(fdsOn(join(root, 'big.bin')) + fdsOn(join(root, 'dir'))).toBe(0);
  });

  it('an empty file', () => {
    expect(hashed('empty.bin')).toMatchObject({ size: 0, statSize: 0, crc32c: '00000000', sha256: sha(''), stable: true });
  });

  it('sha256: false skips the SHA-256, and the field is absent', () => {
    const out = hashed('check.bin', false);
    expect(out).not.toHaveProperty('sha256');
    expect(out.crc32c).toBe('e3069283');
  });

  it.each([
    ['a directory', 'dir', 'EINVAL', 'not a regular file'],
    ['a symbolic link (swapped in after the walk)', 'link.bin', 'ELOOP', /^ELOOP: too many symbolic links/],
    ['a file that is gone', 'gone.bin', 'ENOENT', /^ENOENT: no such file or directory/],
  ] as const)('%s is refused with its errno code', (_name, file, code, message) => {
    expect(() => hashed(file)).toThrow(expect.objectContaining({ code, message: typeof message === 'string' ? message : expect.stringMatching(message) }));
  });
});

describe('parsing one playlist', () => {
  it('reads and parses it', () => {
    expect(parse({ path: join(root, 'index.m3u8'), rel: 'index.m3u8' })).toMatchObject({ kind: 'media', path: 'index.m3u8', segments: [{ uri: 'a.ts' }, { uri: 'b.ts' }] });
  });

  it('an unreadable one is an invalid playlist that says why', () => {
    expect(parse({ path: join(root, 'gone.m3u8'), rel: 'gone.m3u8' })).toStrictEqual({
      kind: 'invalid',
      path: 'gone.m3u8',
      code: 'unreadable',
      error: expect.stringMatching(/^cannot read: ENOENT: no such file or directory/),
      diagnostics: [],
    });
  });
});

/** CRC32C (Castagnoli), bit by bit: independent of both implementations under test. */
function crcOf(b: Buffer): number {
  let c = 0xffffffff;
  for (const byte of b) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}
