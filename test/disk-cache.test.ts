// The disk tier's bookkeeping (src/store/disk/cache.ts) on a real directory, without a server:
// what a start finds and forgets, reservations against the quota, commits, drops, and the events
// the edge counts. The edge-disk tests drive the same code through requests; these pin its rules.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blocks, DiskCache, type DiskEvents } from '../src/store/disk/cache.js';

const B = 4096;
let root: string;
let log: string[];
const events: DiskEvents = {
  evicted: (h) => log.push(`evicted ${h.slice(0, 4)}`),
  removed: (h) => log.push(`removed ${h.slice(0, 4)}`),
  error: (op, err) => log.push(`error ${op} ${err.code}`),
};

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'segd-disk-'));
  log = [];
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** A 64-digit hash starting with `prefix`. */
const hash = (prefix: string): string => prefix.padEnd(64, '0');
const path = (h: string): string => join(root, 'data', h.slice(0, 2), h);

/** An object file left by an earlier run, `size` bytes, modified `age` seconds before now. */
function leave(h: string, size: number, age = 0, name = h): void {
  mkdirSync(join(root, 'data', h.slice(0, 2)), { recursive: true });
  writeFileSync(join(root, 'data', h.slice(0, 2), name), Buffer.alloc(size));
  const t = Date.now() / 1000 - age;
  utimesSync(join(root, 'data', h.slice(0, 2), name), t, t);
}

/** Stores an object as a fill does: reserve, write to a temporary file, commit. */
async function store(cache: DiskCache, h: string, size: number): Promise<void> {
  const r = await cache.reserve(size);
  expect(r).toBeDefined();
  const temp = cache.tempPath();
  writeFileSync(temp, Buffer.alloc(size));
  await cache.commit(r!, temp, h, size);
}

describe('blocks', () => {
  it.each([
    [0, 0],
    [1, B],
    [B - 1, B],
    [B, B],
    [B + 1, 2 * B],
  ])('%i bytes take %i on disk', (size, onDisk) => {
    expect(blocks(size)).toBe(onDisk);
  });
});

describe('DiskCache.open', () => {
  it('makes the directories, even the root, and empties tmp/ of fills a crash left behind', async () => {
    const at = join(root, 'a', 'b');
    mkdirSync(join(at, 'tmp', 'sub'), { recursive: true });
    writeFileSync(join(at, 'tmp', 'sub', 'torn'), 'x');
    const cache = await DiskCache.open(at, 100 * B);
    expect(readdirSync(join(at, 'tmp'))).toEqual([]);
    const dirs = readdirSync(join(at, 'data')).sort();
    expect(dirs).toHaveLength(256);
    expect(dirs.slice(0, 3)).toEqual(['00', '01', '02']);
    expect(dirs.at(-1)).toBe('ff');
    expect(cache.tempPath()).toMatch(new RegExp(`^${join(at, 'tmp')}/[0-9a-f]{24}$`));
    expect(cache.tempPath()).not.toBe(cache.tempPath());
    expect(await DiskCache.open(join(root, 'fresh'), B)).toBeDefined(); // no tmp/ to empty
  });

  it('counts the objects found, in whole blocks, and leaves what is not ours alone', async () => {
    leave(hash('0a1'), 1);
    leave(hash('ab'), B + 1);
    leave(hash('ab'), 5, 0, hash('ab').toUpperCase()); // not a lower-case hash
    leave(hash('ab'), 5, 0, hash('ab') + '0'); // 65 digits
    leave(hash('ab'), 5, 0, 'ab' + hash('ab')); // 66 digits
    leave(hash('ab'), 5, 0, hash('ab').slice(1)); // 63
    leave(hash('cd'), 5, 0, hash('ef')); // a hash in another hash's directory
    mkdirSync(path(hash('12')), { recursive: true }); // a directory, not a file
    const cache = await DiskCache.open(root, 100 * B);
    expect([cache.objects, cache.bytes]).toEqual([2, 3 * B]);
    expect([cache.has(hash('0a1')), cache.has(hash('ab')), cache.has(hash('ef')), cache.has(hash('12'))]).toEqual([true, true, false, false]);
    expect(readdirSync(join(root, 'data', 'ab'))).toHaveLength(5);
    expect(existsSync(join(root, 'data', 'cd', hash('ef')))).toBe(true);
  });

  it('a link to nothing under an object’s name is left alone, not a failed start', async () => {
    mkdirSync(join(root, 'data', 'ab'), { recursive: true });
    symlinkSync(join(root, 'nowhere'), path(hash('ab')));
    leave(hash('cd'), 1);
    const cache = await DiskCache.open(root, 100 * B);
    expect([cache.objects, cache.has(hash('ab')), cache.has(hash('cd'))]).toEqual([1, false, true]);
  });

  it('over a lowered quota, forgets and removes the oldest files first, whatever their directory', async () => {
    leave(hash('ff'), B, 40);
    leave(hash('00'), B, 10);
    leave(hash('80'), B, 30);
    leave(hash('40'), B, 20);
    const cache = await DiskCache.open(root, 2 * B, events);
    expect(log).toEqual(['evicted ff00', 'removed ff00', 'evicted 8000', 'removed 8000']);
    expect([existsSync(path(hash('ff'))), existsSync(path(hash('80'))), existsSync(path(hash('40'))), existsSync(path(hash('00')))]).toEqual([false, false, true, true]);
    expect([cache.objects, cache.bytes]).toEqual([2, 2 * B]);
  });
});

describe('reservations', () => {
  it('evict what must go for the bytes reserved, and count until released', async () => {
    const cache = await DiskCache.open(root, 4 * B, events);
    for (const p of ['a', 'b', 'c']) await store(cache, hash(p), B);
    expect([cache.objects, cache.bytes]).toEqual([3, 3 * B]);
    const r = await cache.reserve(1); // a whole block
    expect(r!.bytes).toBe(B);
    expect(log).toEqual([]);
    expect(await r!.grow(B + 1)).toBe(true); // two more: a and b go
    expect(r!.bytes).toBe(3 * B);
    expect(log).toEqual(['evicted a000', 'removed a000', 'evicted b000', 'removed b000']);
    expect([existsSync(path(hash('a'))), existsSync(path(hash('b'))), existsSync(path(hash('c')))]).toEqual([false, false, true]);
    expect(await r!.grow(2 * B)).toBe(false); // 5 blocks with c gone: more than the quota
    expect(r!.bytes).toBe(3 * B);
    expect(await cache.reserve(2 * B)).toBeUndefined(); // the reservation counts
    r!.release();
    expect(r!.bytes).toBe(0);
    expect(await cache.reserve(3 * B)).toBeDefined(); // c and 3 fit
    expect(cache.has(hash('c'))).toBe(true);
  });

  it('the whole quota can be reserved, not a byte more', async () => {
    const cache = await DiskCache.open(root, 4 * B);
    expect(await cache.reserve(4 * B + 1)).toBeUndefined();
    const r = await cache.reserve(4 * B);
    expect(r!.bytes).toBe(4 * B);
    r!.release();
    expect(await cache.reserve(4 * B)).toBeDefined();
  });

  it('a hit in time keeps an object: twice hit, it outlives one never hit', async () => {
    const cache = await DiskCache.open(root, 10 * B);
    for (const p of '0123456789') await store(cache, hash(p), B);
    cache.touch(hash('0'));
    cache.touch(hash('0'));
    (await cache.reserve(B))!.release();
    expect([cache.has(hash('0')), cache.has(hash('1'))]).toEqual([true, false]);
  });

  it('an eviction whose file is already gone is no error; one that cannot unlink is', async () => {
    const cache = await DiskCache.open(root, 2 * B, events);
    await store(cache, hash('a'), B);
    await store(cache, hash('b'), B);
    rmSync(path(hash('a')));
    rmSync(path(hash('b')));
    mkdirSync(path(hash('b'))); // unlink(2) of a directory fails, not with ENOENT
    (await cache.reserve(2 * B))!.release();
    expect(log.filter((l) => l.startsWith('error'))).toEqual([expect.stringMatching(/^error unlink E(ISDIR|PERM)$/)]);
    expect(cache.objects).toBe(0);
  });

  it('evicts without events to tell', async () => {
    const cache = await DiskCache.open(root, B);
    await store(cache, hash('a'), B);
    rmSync(path(hash('a')));
    mkdirSync(path(hash('a')));
    (await cache.reserve(B))!.release();
    expect(cache.objects).toBe(0);
  });
});

describe('commit', () => {
  it('moves the fill into place and counts its real size instead of the reservation', async () => {
    const cache = await DiskCache.open(root, 10 * B);
    const r = await cache.reserve(5 * B);
    const temp = cache.tempPath();
    writeFileSync(temp, 'x'.repeat(B + 1));
    await cache.commit(r!, temp, hash('a'), B + 1);
    expect([existsSync(temp), existsSync(path(hash('a'))), cache.pathOf(hash('a'))]).toEqual([false, true, path(hash('a'))]);
    expect([cache.objects, cache.bytes, r!.bytes]).toEqual([1, 2 * B, 0]);
    expect(await cache.reserve(8 * B)).toBeDefined(); // the reservation was released
  });

  it('a new version replaces the old one’s size', async () => {
    const cache = await DiskCache.open(root, 10 * B);
    await store(cache, hash('a'), 3 * B);
    await store(cache, hash('a'), B);
    expect([cache.objects, cache.bytes]).toEqual([1, B]);
  });

  it('a commit that fails releases the reservation, removes the temporary file and throws', async () => {
    for (const ev of [events, undefined]) {
      const cache = await DiskCache.open(root, 4 * B, ev);
      const r = await cache.reserve(4 * B);
      const temp = cache.tempPath();
      await expect(cache.commit(r!, temp, hash('a'), B)).rejects.toMatchObject({ code: 'ENOENT' });
      // A temporary file that cannot be renamed into place: the directory it would replace.
      const r2 = await cache.reserve(4 * B);
      expect(r2).toBeDefined();
      mkdirSync(path(hash('b')));
      writeFileSync(join(path(hash('b')), 'f'), '');
      writeFileSync(temp, 'x');
      await expect(cache.commit(r2!, temp, hash('b'), 1)).rejects.toThrow();
      expect(existsSync(temp)).toBe(false);
      expect([cache.objects, cache.bytes, r2!.bytes]).toEqual([0, 0, 0]);
      rmSync(path(hash('b')), { recursive: true });
    }
    expect(log).toEqual(['error commit ENOENT', expect.stringMatching(/^error commit E/)]);
  });
});

describe('drop and lost', () => {
  it('drop() forgets the object and removes its file; lost() only forgets', async () => {
    const cache = await DiskCache.open(root, 10 * B, events);
    await store(cache, hash('a'), B);
    await store(cache, hash('b'), B);
    await cache.drop(hash('a'));
    expect([cache.has(hash('a')), existsSync(path(hash('a'))), cache.bytes]).toEqual([false, false, B]);
    expect(log).toEqual(['removed a000']);
    cache.lost(hash('b'));
    expect([cache.has(hash('b')), existsSync(path(hash('b'))), cache.objects, cache.bytes]).toEqual([false, true, 0, 0]);
  });

  it('drop() of a file already gone is no error; one that cannot be unlinked is', async () => {
    for (const ev of [events, undefined]) {
      const cache = await DiskCache.open(root, 10 * B, ev);
      await store(cache, hash('a'), B);
      rmSync(path(hash('a')));
      await cache.drop(hash('a'));
      mkdirSync(path(hash('a')));
      await cache.drop(hash('a'));
      rmSync(path(hash('a')), { recursive: true });
    }
    expect(log).toEqual(['removed a000', 'removed a000', expect.stringMatching(/^error unlink E(ISDIR|PERM)$/)]);
  });
});
