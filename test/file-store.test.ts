// The folder's store on its own (src/store/folder.ts) with a real load pool and real files:
// which tier answers, when a file is looked at again, what a refusal costs, and what happens when
// a file changes. The server tests see the same through responses; these see each decision.
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { appendFileSync, closeSync, openSync, readFileSync, realpathSync, renameSync, statSync, unlinkSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { LoadPool } from '../src/pool/load-pool.js';
import { FileStore, type Outcome, type StoreEvents } from '../src/store/folder.js';
import { ReadEntry, ChangedError } from '../src/store/read-tier.js';
import type { ObjectFacts } from '../src/store/objects.js';
import type { Expectation } from '../src/pool/tasks.js';
import { random, tempTree } from './helpers/content.js';
import { eventually } from './helpers/wait.js';
import { native } from '../src/native/index.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const tree = tempTree();
const root = realpathSync(tree.dir);
const mount = { realRoot: root, followSymlinks: false };
const pool = new LoadPool(1);
afterAll(async () => {
  await pool.close();
  tree.remove();
});

const MAPPED = 100 * 1024; // over the 64 KiB copy limit: mapped, with a block table (read-tier material)
let n = 0;
let seen: string[];
beforeEach(() => {
  seen = [];
});

/** Every event, in order, as `name` or `name:detail`. */
const events: Partial<StoreEvents> = {
  hit: (tier) => seen.push(`hit:${tier}`),
  miss: () => seen.push('miss'),
  evict: () => seen.push('evict'),
  corrupt: () => seen.push('corrupt'),
  unreadable: (_f, err) => seen.push(`unreadable:${err.code}`),
  changedUnderRead: () => seen.push('changed-under-read'),
  promote: () => seen.push('promote'),
};

function store(o: { maxBytes?: number; validityMs?: number; expected?: (file: string) => Expectation | undefined; verify?: boolean } = {}): FileStore<number> {
  let described = 0;
  return new FileStore<number>({
    maxBytes: o.maxBytes ?? 64 * 1024 * 1024,
    validityMs: o.validityMs ?? 600_000,
    pool,
    describe: () => ++described, // which description an object carries: counts rebuilds
    expected: o.expected,
    verify: o.verify ?? true,
    events,
  });
}

function file(size: number): { path: string; bytes: Buffer } {
  const name = `f${++n}.ts`;
  return { path: join(root, name), bytes: tree.write(name, random(size)) };
}

function found(o: Outcome<number>): Extract<Outcome<number>, { kind: 'found' }>['entry'] {
  if (o.kind !== 'found') throw new Error(`expected found, got ${o.kind}`);
  return o.entry;
}

async function bytesOf(e: ReturnType<typeof found>, size: number): Promise<Buffer> {
  return e instanceof ReadEntry ? e.bytes(0, size) : Buffer.from(e.file.view(0, size));
}

describe('a file asked for the first time', () => {
  it('is loaded once for any number of requests at once, then answered from memory', async () => {
    const s = store();
    const f = file(5000);
    const all = await Promise.all([s.fetch(f.path, mount), s.fetch(f.path, mount), s.fetch(f.path, mount)]);
    expect(new Set(all.map((o) => found(o))).size).toBe(1);
    expect(seen).toEqual(['miss']);
    expect((await bytesOf(found(all[0]!), 5000)).equals(f.bytes)).toBe(true);
    expect(found(await s.fetch(f.path, mount))).toBe(found(all[0]!));
    expect(seen).toEqual(['miss', 'hit:memory']);
    expect(s.hot(f.path)).toBe(found(all[0]!));
  });
});

describe('the validity window', () => {
  it('hot() answers only within it; after it, fetch() looks at the file again and keeps an unchanged one', async () => {
    const s = store({ validityMs: 1000 });
    const f = file(5000);
    const e = found(await s.fetch(f.path, mount));
    expect(s.hot(f.path)).toBe(e);
    await eventually(() => s.hot(f.path) === undefined, { what: 'the window to pass' });
    expect(found(await s.fetch(f.path, mount))).toBe(e); // one stat, same file: same object
    expect(s.hot(f.path)).toBe(e); // and the window starts again
    // A change after that revalidation is seen at the next one (no stale answer kept from it).
    const next = random(5000);
    tree.write(f.path.slice(root.length + 1), next);
    await eventually(() => s.hot(f.path) === undefined, { what: 'the window to pass again' });
    expect((await bytesOf(found(await s.fetch(f.path, mount)), 5000)).equals(next)).toBe(true);
  });

  // Times in whole seconds, so that a replacement can have exactly the same mtime.
  const SECOND = 1_700_000_000;
  it.each([
    ['the same size, rewritten (a new mtime)', (path: string) => writeFileSync(path, random(5000))],
    ['the same mtime, grown in place (a new size)', (path: string) => {
      appendFileSync(path, random(10));
      utimesSync(path, SECOND, SECOND);
    }],
    ['the same size and mtime, a new file renamed over it (a new inode)', (path: string) => {
      writeFileSync(`${path}.new`, random(5000));
      utimesSync(`${path}.new`, SECOND, SECOND);
      renameSync(`${path}.new`, path);
    }],
  ])('a file replaced with %s is loaded anew after the window', async (_what, replace) => {
    const s = store({ validityMs: 100 });
    const f = file(5000);
    utimesSync(f.path, SECOND, SECOND);
    const first = found(await s.fetch(f.path, mount));
    replace(f.path);
    await eventually(() => s.hot(f.path) === undefined, { what: 'the window to pass' });
    const second = found(await s.fetch(f.path, mount));
    expect(second).not.toBe(first);
    const now = readFileSync(f.path);
    expect((await bytesOf(second, now.length)).equals(now)).toBe(true);
  });

  it('a file deleted is dropped from both tiers once the window has passed', async () => {
    const s = store({ validityMs: 100 });
    const f = file(MAPPED);
    found(await s.fetch(f.path, mount));
    expect(s.memory.peek(f.path)).toBeDefined();
    expect(s.reads.get(f.path)).toBeDefined();
    unlinkSync(f.path);
    await eventually(() => s.hot(f.path) === undefined, { what: 'the window to pass' });
    expect(await s.fetch(f.path, mount)).toEqual({ kind: 'missing' });
    expect(s.memory.peek(f.path)).toBeUndefined();
    expect(s.reads.get(f.path)).toBeUndefined();
  });

  it('a file replaced on disk is loaded anew once the window has passed, never before', async () => {
    const s = store({ validityMs: 1000 });
    const f = file(5000);
    const first = found(await s.fetch(f.path, mount));
    const next = random(6000);
    tree.write(f.path.slice(root.length + 1), next);
    expect(s.hot(f.path)).toBe(first); // within the window: the promise of validityMs, no stat
    await eventually(() => s.hot(f.path) === undefined, { what: 'the window to pass' });
    const second = found(await s.fetch(f.path, mount));
    expect(second).not.toBe(first);
    expect((await bytesOf(second, 6000)).equals(next)).toBe(true);
    expect(seen.filter((x) => x === 'miss')).toHaveLength(2);
  });
});

describe('refusals', () => {
  it('a missing file is remembered for the window: created meanwhile, it is found only after', async () => {
    const s = store({ validityMs: 2000 });
    const name = `late${++n}.ts`;
    const path = join(root, name);
    expect(await s.fetch(path, mount)).toEqual({ kind: 'missing' });
    const bytes = tree.write(name, random(100));
    await sleep(50);
    expect(await s.fetch(path, mount)).toEqual({ kind: 'missing' });
    expect(seen).toEqual(['miss']); // the second answer cost no load
    const e = await eventually(async () => {
      const o = await s.fetch(path, mount);
      return o.kind === 'found' ? o.entry : undefined;
    }, { what: 'the refusal to expire' });
    expect((await bytesOf(e, 100)).equals(bytes)).toBe(true);
  });

  it('bytes the manifest contradicts are corrupt, and stay refused', async () => {
    const f = file(5000);
    const s = store({ expected: (p) => (p === f.path ? { ...statOf(f.path), crc32c: 1 } : undefined) });
    expect(await s.fetch(f.path, mount)).toEqual({ kind: 'corrupt' });
    expect(await s.fetch(f.path, mount)).toEqual({ kind: 'corrupt' });
    expect(seen).toEqual(['miss', 'corrupt']);
  });

  it('a load that fails is a refusal with its code, reported, and remembered', async () => {
    const s = store();
    const bad = join(root, 'bad\0name.ts');
    expect(await s.fetch(bad, mount)).toEqual({ kind: 'failed', code: 'ERR_INVALID_ARG_VALUE' });
    expect(await s.fetch(bad, mount)).toEqual({ kind: 'failed', code: 'ERR_INVALID_ARG_VALUE' });
    expect(seen).toEqual(['miss', 'unreadable:ERR_INVALID_ARG_VALUE']);
  });
});

describe('the read tier', () => {
  it('answers a file too large for memory by reading it, and looks at it again after the window', async () => {
    const s = store({ maxBytes: MAPPED / 2, validityMs: 1000 });
    const f = file(MAPPED);
    found(await s.fetch(f.path, mount)); // loaded, checked, and too big to keep in memory
    const e = found(await s.fetch(f.path, mount));
    expect(e).toBeInstanceOf(ReadEntry);
    expect(seen).toEqual(['miss', 'hit:read']);
    expect((await bytesOf(e, MAPPED)).equals(f.bytes)).toBe(true);
    const next = random(MAPPED + 1);
    tree.write(f.path.slice(root.length + 1), next);
    // Within the window it answers without a stat: the same entry.
    expect(found(await s.fetch(f.path, mount))).toBe(e);
    await sleep(1100);
    const reloaded = found(await s.fetch(f.path, mount));
    expect(reloaded).not.toBe(e);
    expect((await bytesOf(reloaded, MAPPED + 1)).equals(next)).toBe(true);
  });

  it('bytes rewritten in place under it (same size and time) cut the read short and are reported', async () => {
    const s = store({ maxBytes: MAPPED / 2 });
    const f = file(MAPPED);
    found(await s.fetch(f.path, mount));
    const e = found(await s.fetch(f.path, mount)) as ReadEntry<number>;
    const { mtime, atime } = statOf(f.path);
    const fd = openSync(f.path, 'r+');
    writeSync(fd, Buffer.alloc(10, 0x47), 0, 10, 70_000);
    closeSync(fd);
    utimesSync(f.path, atime, mtime);
    await expect(e.bytes(0, MAPPED)).rejects.toBeInstanceOf(ChangedError);
    expect(seen).toContain('changed-under-read');
    expect(s.reads.get(f.path)).toBeUndefined(); // left the tier: the next request loads it anew
  });
});

describe('memory', () => {
  it('takes back an object of the read tier that turned hot, in the background', async () => {
    const s = store({ maxBytes: MAPPED + MAPPED / 2 });
    const a = file(MAPPED);
    const b = file(MAPPED);
    found(await s.fetch(a.path, mount));
    found(await s.fetch(b.path, mount)); // a leaves memory for b
    expect(s.memory.peek(a.path)).toBeUndefined();
    await sleep(200);
    // Asked again and again from the read tier, a minute gap apart, while b goes unused: a is
    // the hotter one (MemoryTier.admits) and is promoted, at the second request unless a pause
    // of the machine's gets in between.
    await eventually(async () => {
      expect(found(await s.fetch(a.path, mount))).toBeInstanceOf(ReadEntry);
      return seen.includes('promote');
    }, { everyMs: 1, what: 'a promoted' });
    expect(seen.filter((x) => x === 'promote')).toHaveLength(1);
    await eventually(() => s.memory.peek(a.path) !== undefined, { what: 'a back in memory' });
    expect(found(await s.fetch(a.path, mount))).not.toBeInstanceOf(ReadEntry);
  });

  it('clear() forgets every object and every refusal', async () => {
    const s = store({ validityMs: 600_000 });
    const f = file(MAPPED);
    found(await s.fetch(f.path, mount));
    const name = `late${++n}.ts`;
    expect(await s.fetch(join(root, name), mount)).toEqual({ kind: 'missing' });
    tree.write(name, random(10));
    s.clear();
    expect([s.memory.size, s.reads.size]).toEqual([0, 0]);
    expect((await s.fetch(join(root, name), mount)).kind).toBe('found');
  });

  it('evicts the least recently used object beyond its bytes', async () => {
    const s = store({ maxBytes: 12_000 });
    const a = file(5000);
    const b = file(5000);
    const c = file(5000);
    for (const f of [a, b, c]) found(await s.fetch(f.path, mount));
    expect(seen.filter((x) => x === 'evict')).toHaveLength(1);
    expect(s.memory.peek(a.path)).toBeUndefined();
    expect(s.memory.peek(c.path)).toBeDefined();
  });
});

describe('redescribe', () => {
  it('rebuilds every description, drops objects the new manifest contradicts, and forgets refusals', async () => {
    let expected: Map<string, Expectation> = new Map();
    const s = store({ maxBytes: MAPPED * 8, expected: (p) => expected.get(p) });
    const keep = file(MAPPED);
    const drop = file(MAPPED);
    const otherSize = file(MAPPED);
    const otherTime = file(MAPPED);
    const late = join(root, `late${++n}.ts`);
    const kept = found(await s.fetch(keep.path, mount));
    for (const f of [drop, otherSize, otherTime]) found(await s.fetch(f.path, mount));
    expect(await s.fetch(late, mount)).toEqual({ kind: 'missing' });
    const before = kept.rep;
    // Only a listing of this very size and mtime contradicts the bytes; another is about another version.
    expected = new Map([
      [drop.path, { ...statOf(drop.path), crc32c: 1 }],
      [otherSize.path, { ...statOf(otherSize.path), size: MAPPED + 1, crc32c: 1 }],
      [otherTime.path, { ...statOf(otherTime.path), mtimeMs: 1, crc32c: 1 }],
      [keep.path, { ...statOf(keep.path), crc32c: native.crc32c(keep.bytes) }],
    ]);
    tree.write(late.slice(root.length + 1), random(10));
    s.redescribe();
    expect(kept.rep).toBeGreaterThan(before);
    expect(s.memory.peek(drop.path)).toBeUndefined();
    expect(s.reads.get(drop.path)).toBeUndefined();
    expect(s.memory.peek(keep.path)).toBe(kept);
    for (const f of [keep, otherSize, otherTime]) expect(s.reads.get(f.path), f.path).toBeDefined();
    expect((await s.fetch(late, mount)).kind).toBe('found');
  });
});

function statOf(path: string): { size: number; mtimeMs: number; mtime: Date; atime: Date } {
  const st = statSync(path);
  return { size: st.size, mtimeMs: st.mtimeMs, mtime: st.mtime, atime: st.atime };
}
