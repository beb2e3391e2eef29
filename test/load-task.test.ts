// A folder's cold load as the pool runs it (workers/load.ts), here on the main thread: the pool's
// threads are out of the mutation tester's sight. This is where a request's path is confined to
// the served root and kept away from hidden files, so every way out gets a row.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import poolTask, { load } from '../workers/load.js';
import { PLAYLIST_LIMIT } from '../workers/bytes.js';
import { native } from '../src/native/index.js';
import type { LoadResult, LoadTask } from '../src/pool/tasks.js';
import { random, vodPlaylist } from './helpers/content.js';
import { mappingsOf } from './helpers/native.js';

const COPY_LIMIT = 64 * 1024;
let top: string; // holds the root (under a dot directory, as a root may be) and a file outside it
let root: string;
const small = random(1000);
const large = random(COPY_LIMIT + 1);
const playlist = vodPlaylist(['a.ts', 'b.ts']);

beforeAll(() => {
  top = realpathSync(mkdtempSync(join(tmpdir(), 'segd-load-')));
  root = join(top, '.under-a-dot', 'root');
  mkdirSync(join(root, 'dir'), { recursive: true });
  mkdirSync(join(root, '.hidden'));
  writeFileSync(join(root, 'small.ts'), small);
  writeFileSync(join(root, 'large.ts'), large);
  writeFileSync(join(root, 'index.m3u8'), playlist);
  writeFileSync(join(root, '.env'), 'SECRET=1');
  writeFileSync(join(root, '.hidden', 'seg.ts'), small);
  writeFileSync(join(top, 'outside.ts'), small);
  symlinkSync(join(root, '.env'), join(root, 'visible.txt'));
  symlinkSync(join(root, '.hidden'), join(root, 'shown'));
  symlinkSync(join(top, 'outside.ts'), join(root, 'out.ts'));
  symlinkSync(join(root, 'small.ts'), join(root, 'alias.ts'));
  symlinkSync(join(root, 'loop-b'), join(root, 'loop-a'));
  symlinkSync(join(root, 'loop-a'), join(root, 'loop-b'));
  execFileSync('mkfifo', [join(root, 'fifo')]);
  // Sparse: a playlist one byte over the size segd parses and compresses.
  writeFileSync(join(root, 'huge.m3u8'), '');
  truncateSync(join(root, 'huge.m3u8'), PLAYLIST_LIMIT + 1);
});
afterAll(() => rmSync(top, { recursive: true, force: true }));

function task(rel: string, o: Partial<LoadTask> = {}): LoadTask {
  return { file: join(root, rel), realRoot: root, followSymlinks: false, copyLimit: COPY_LIMIT, verify: false, ...o };
}

/** Runs the load and releases a mapping it made (the token holds one reference). */
function run(t: LoadTask): LoadResult {
  const r = load(t);
  if (r.kind === 'mapped') native.adopt(r.token).close();
  return r;
}

describe('a load confines the path', () => {
  it.each([
    ['a file that does not exist', 'nothing.ts', {}],
    ['a path through a file (ENOTDIR)', 'small.ts/x', {}],
    ['a directory', 'dir', {}],
    ['a dotfile', '.env', {}],
    ['a file in a hidden directory', '.hidden/seg.ts', {}],
    ['a symlink to a dotfile', 'visible.txt', {}],
    ['a file through a symlink to a hidden directory', 'shown/seg.ts', {}],
    ['a symlink out of the root', 'out.ts', {}],
    ['a symlink to a dotfile, even when symlinks may leave the root', 'visible.txt', { followSymlinks: true }],
    ['a symlink loop (ELOOP)', 'loop-a', {}],
    ['a name longer than the filesystem allows (ENAMETOOLONG)', 'x'.repeat(300), {}],
    // Not a regular file: reading a FIFO would block the pool thread for good; mapping it fails.
    ['a FIFO, even one small enough to copy', 'fifo', {}],
    ['a FIFO', 'fifo', { copyLimit: 0 }],
  ])('%s is missing', (_name, rel, o) => {
    expect(run(task(rel, o))).toEqual({ kind: 'missing' });
  });

  it.each([
    ['a symlink inside the root', 'alias.ts', {}, small],
    ['a symlink out of the root when symlinks may leave it', 'out.ts', { followSymlinks: true }, small],
  ])('%s is loaded', (_name, rel, o, bytes) => {
    const r = run(task(rel, o));
    expect(r).toMatchObject({ kind: 'copied', size: bytes.length, crc32c: native.crc32c(bytes) });
    expect(r.kind === 'copied' && Buffer.from(r.bytes).equals(bytes)).toBe(true);
  });

  it('a sibling whose name starts with the root’s is outside it', () => {
    // `/x/root` must not admit `/x/root-other/...` through a string prefix.
    mkdirSync(`${root}-other`, { recursive: true });
    writeFileSync(join(`${root}-other`, 'f.ts'), small);
    symlinkSync(join(`${root}-other`, 'f.ts'), join(root, 'sibling.ts'));
    expect(run(task('sibling.ts'))).toEqual({ kind: 'missing' });
  });

  it('a root that ends in a slash (as `/` does) still holds its files', () => {
    expect(run(task('small.ts', { realRoot: root + '/' }))).toMatchObject({ kind: 'copied', size: small.length });
  });

  it('any other error is thrown, with its code', () => {
    expect(() => load(task('x', { file: join(root, 'small.ts') + '\0' }))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });
});

describe('a load picks how to hold the bytes', () => {
  it('a file up to the copy limit is copied, one past it mapped, with its facts', () => {
    const st = statSync(join(root, 'large.ts'));
    expect(run(task('small.ts'))).toMatchObject({ kind: 'copied', size: small.length });
    const r = load(task('large.ts'));
    try {
      expect(r).toMatchObject({ kind: 'mapped', size: large.length, mtimeMs: st.mtimeMs, ino: st.ino, crc32c: native.crc32c(large) });
    } finally {
      if (r.kind === 'mapped') native.adopt(r.token).close();
    }
    expect(mappingsOf(join(root, 'large.ts'))).toBe(0);
    expect(run(task('large.ts', { copyLimit: large.length }))).toMatchObject({ kind: 'copied', size: large.length });
  });

  it('a playlist is copied past the copy limit, and parsed', () => {
    const r = run(task('index.m3u8', { copyLimit: 10 }));
    expect(r).toMatchObject({ kind: 'copied', size: playlist.length });
    expect(r.kind === 'copied' && r.playlist !== undefined).toBe(true);
  });

  it('a playlist over the playlist limit is mapped like any large file, not parsed', () => {
    expect(run(task('huge.m3u8'))).toMatchObject({ kind: 'mapped', size: PLAYLIST_LIMIT + 1 });
  });
});

describe('a load and the manifest', () => {
  const facts = (rel: string): { size: number; mtimeMs: number } => {
    const st = statSync(join(root, rel));
    return { size: st.size, mtimeMs: st.mtimeMs };
  };

  it('takes a listed checksum on trust when not verifying, copied or mapped', () => {
    expect(run(task('small.ts', { expected: { ...facts('small.ts'), crc32c: 1234 } }))).toMatchObject({ kind: 'copied', crc32c: 1234 });
    expect(run(task('large.ts', { expected: { ...facts('large.ts'), crc32c: 1234 } }))).toMatchObject({ kind: 'mapped', crc32c: 1234, blocks: undefined });
  });

  it('verifying, reports a listed checksum the bytes do not have as corrupt, and keeps no mapping', () => {
    for (const rel of ['small.ts', 'large.ts']) {
      const bytes = rel === 'small.ts' ? small : large;
      const r = load(task(rel, { verify: true, expected: { ...facts(rel), crc32c: 1234 } }));
      expect(r).toEqual({ kind: 'corrupt', size: bytes.length, mtimeMs: facts(rel).mtimeMs, expected: 1234, actual: native.crc32c(bytes) });
    }
    expect(mappingsOf(join(root, 'large.ts'))).toBe(0);
  });

  it('verifying, accepts a listed checksum the bytes have', () => {
    expect(run(task('large.ts', { verify: true, expected: { ...facts('large.ts'), crc32c: native.crc32c(large) } }))).toMatchObject({ kind: 'mapped', crc32c: native.crc32c(large) });
  });

  it.each([
    ['size', { size: 1 }],
    ['mtime', { mtimeMs: 1 }],
  ])('ignores a listing whose %s is not the file’s: it computes the checksum', (_what, change) => {
    const r = run(task('small.ts', { expected: { ...facts('small.ts'), crc32c: 1234, ...change } }));
    expect(r).toMatchObject({ kind: 'copied', crc32c: native.crc32c(small) });
  });
});

describe('the pool task', () => {
  it('dispatches on op, and carries an exception back as a value with its code', () => {
    expect(poolTask({ op: 'ping' })).toEqual({ ok: true, value: true });
    const loaded = poolTask({ op: 'load', ...task('small.ts') });
    expect(loaded).toMatchObject({ ok: true, value: { kind: 'copied', size: small.length } });
    // A folder's file is no cache file: the cached load says so rather than serving it.
    expect(poolTask({ op: 'cached', file: join(root, 'small.ts'), key: '/small.ts', copyLimit: COPY_LIMIT, playlist: false })).toMatchObject({ ok: true, value: { kind: 'invalid' } });
    expect(poolTask({ op: 'load', ...task('x', { file: join(root, 'small.ts') + '\0' }) })).toMatchObject({ ok: false, error: { code: 'ERR_INVALID_ARG_VALUE' } });
  });

  it('warm reads a file back into the page cache, checks it, and keeps no mapping of it', () => {
    const file = join(root, 'large.ts');
    expect(poolTask({ op: 'warm', file, size: large.length, crc32c: native.crc32c(large) })).toEqual({ ok: true, value: true });
    expect(mappingsOf(file)).toBe(0);
    // Bytes that no longer match (bit rot read back from the disk): false. A file now shorter than
    // the object is left to the SIGBUS guard (test/truncate.test.ts): not judged, true.
    expect(poolTask({ op: 'warm', file, size: large.length, crc32c: native.crc32c(large) ^ 1 })).toEqual({ ok: true, value: false });
    expect(poolTask({ op: 'warm', file, size: large.length + 1, crc32c: 0 })).toEqual({ ok: true, value: true });
    // The object is the file's first `size` bytes (a cache file has its trailer after them).
    expect(poolTask({ op: 'warm', file, size: 1000, crc32c: native.crc32c(large.subarray(0, 1000)) })).toEqual({ ok: true, value: true });
    expect(mappingsOf(file)).toBe(0);
    expect(poolTask({ op: 'warm', file: join(root, 'nothing.ts'), size: 1, crc32c: 0 })).toMatchObject({ ok: false, error: { code: 'ENOENT' } });
  });
});
