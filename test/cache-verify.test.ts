// `segd verify --cache-dir` (src/store/disk/verify.ts) on a cache directory written file by file
// in the disk cache's format: one good object of each size class and one of each fault, each
// reported with its file, its key when the trailer names one, and what is wrong.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { native } from '../src/native/index.js';
import { encodeTrailer, keyHash, objectPath, type CachedMeta } from '../src/store/disk/format.js';
import { verifyCacheDir } from '../src/store/disk/verify.js';
import { random } from './helpers/content.js';
import { fdsOn } from './helpers/native.js';
import { tailOf } from './helpers/cache-file.js';

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'segd-cache-verify-'));
  mkdirSync(join(root, 'data'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const meta = (key: string, body: Buffer, more: Partial<CachedMeta> = {}): CachedMeta => ({
  v: 1,
  key,
  length: body.length,
  crc32c: native.crc32c(body) >>> 0,
  requestTime: 1,
  responseTime: 2,
  headers: { 'content-type': 'video/mp2t' },
  ...more,
});

/** Writes `bytes` where the cache keeps `key` (or under `name` in its directory), returns the path. */
function put(key: string, bytes: Buffer, name = keyHash(key)): string {
  const file = join(dirname(objectPath(root, keyHash(key))), name);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, bytes);
  return file;
}
const object = (key: string, body: Buffer, m: CachedMeta = meta(key, body)): string => put(key, Buffer.concat([body, encodeTrailer(m)]));

describe('segd verify --cache-dir', () => {
  it('an empty cache has nothing to report', () => {
    expect(verifyCacheDir(root)).toStrictEqual({ objects: 0, bytes: 0, problems: [] });
  });

  it('good objects: empty, small, and over the 1 MiB read chunk (every chunk counts toward the CRC)', () => {
    const bodies = [Buffer.alloc(0), random(1000), random(1024 * 1024 * 2 + 17)];
    bodies.forEach((b, i) => object(`http://o/${i}.ts`, b));
    const r = verifyCacheDir(root);
    expect(r.problems).toEqual([]);
    expect(r.objects).toBe(3);
    expect(r.bytes).toBe(bodies.reduce((n, b, i) => n + b.length + encodeTrailer(meta(`http://o/${i}.ts`, b)).length, 0));
  });

  it('each fault is reported with its file and, where the trailer names one, its key; good objects beside them are not', () => {
    const body = random(300_000);
    object('http://o/good.ts', body);
    const rotten = Buffer.from(body);
    rotten[150_000]! ^= 1;
    const rot = put('http://o/rot.ts', Buffer.concat([rotten, encodeTrailer(meta('http://o/rot.ts', body))]));
    const tiny = put('http://o/tiny.ts', Buffer.from('short'));
    const plain = put('http://o/plain.ts', random(5000));
    // A trailer for another key, in this key's place (a file moved or renamed by hand).
    const moved = put('http://o/moved.ts', Buffer.concat([body, encodeTrailer(meta('http://o/elsewhere.ts', body))]));
    // A trailer whose length disagrees with the file it ends.
    const long = put('http://o/long.ts', Buffer.concat([body, encodeTrailer(meta('http://o/long.ts', body, { length: body.length + 1 }))]));
    // Exactly a tail's length, and no tail in it.
    const twelve = put('http://o/twelve.ts', Buffer.alloc(12, 1));
    // A tail whose length points at bytes that are not JSON.
    const notJson = put('http://o/notjson.ts', Buffer.concat([body, Buffer.from('{not json'), tailOf(9)]));
    // A trailer that is JSON but names no key.
    const keyless = Buffer.from(JSON.stringify({ v: 1 }));
    const nokey = put('http://o/nokey.ts', Buffer.concat([body, keyless, tailOf(keyless.length)]));
    const r = verifyCacheDir(root);
    const crc = (native.crc32c(rotten) >>> 0).toString(16);
    const want = (native.crc32c(body) >>> 0).toString(16);
    expect(r.objects).toBe(9);
    expect(sortByFile(r.problems)).toStrictEqual(
      sortByFile([
        { file: rot, key: 'http://o/rot.ts', problem: `CRC32C ${crc} differs from the trailer's ${want}` },
        { file: tiny, key: undefined, problem: 'too short for a cache file' },
        { file: plain, key: undefined, problem: 'no cache trailer' },
        { file: moved, key: 'http://o/elsewhere.ts', problem: 'trailer does not describe this file' },
        { file: long, key: 'http://o/long.ts', problem: 'trailer does not describe this file' },
        { file: nokey, key: undefined, problem: 'trailer does not describe this file' },
        { file: twelve, key: undefined, problem: 'no cache trailer' },
        { file: notJson, key: undefined, problem: 'trailer does not describe this file' },
      ]),
    );
  });

  it('reports in a stable order: directories and files by name, whatever order they were made in', () => {
    // Neither the order of creation nor its reverse is sorted (tmpfs lists newest first).
    const made = ['7f/bbb', '00/bbb', '00/aaa', 'ff/aaa', '00/ccc', '7f/aaa'];
    for (const f of made) {
      mkdirSync(join(root, 'data', f.slice(0, 2)), { recursive: true });
      writeFileSync(join(root, 'data', f), 'x');
    }
    expect(verifyCacheDir(root).problems.map((p) => p.file)).toEqual([...made].sort().map((f) => join(root, 'data', f)));
  });

  it('leaves no descriptor open', () => {
    const file = object('http://o/a.ts', random(100));
    const bad = put('http://o/b.ts', Buffer.from('short'));
    verifyCacheDir(root);
    expect(fdsOn(file) + fdsOn(bad)).toBe(0);
  });

  it('a file that cannot be read is reported, and the rest still checked', () => {
    object('http://o/good.ts', random(100));
    const dir = put('http://o/dir.ts', Buffer.alloc(0));
    rmSync(dir);
    mkdirSync(dir); // a directory where an object should be
    const r = verifyCacheDir(root);
    expect(r.objects).toBe(2);
    expect(r.problems).toStrictEqual([{ file: dir, key: undefined, problem: expect.stringMatching(/^unreadable: EISDIR/) }]);
  });
});

const sortByFile = <T extends { file: string }>(a: readonly T[]): T[] => [...a].sort((x, y) => (x.file < y.file ? -1 : 1));
