/**
 * The memory tier's re-warm: when the kernel dropped a cached object's pages, a send would fault
 * them back in on the event loop, so the pages are read back in the pool first (one read shared
 * by every request that finds them gone). The mapping and the pool are real; only the kernel's
 * answer to mincore() is forced, since dropping a mapped file's pages on demand is not possible
 * from a test.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { unlinkSync } from 'node:fs';
import { native, type Mapping } from '../src/native/index.js';
import { LoadPool } from '../src/pool/load-pool.js';
import { MemoryTier } from '../src/store/memory.js';
import { adopt, type Resident, type StoredFile } from '../src/store/objects.js';
import { random, tempTree } from './helpers/content.js';

const tree = tempTree();
const pool = new LoadPool(1);
let tasks = 0;
pool.onTaskTime = () => tasks++;
afterAll(async () => {
  await pool.close();
  tree.remove();
});

/** A real object (adopted as the store adopts a load) whose mapping's mincore() answer is `resident`. */
function object(name: string, resident: () => boolean): Resident & { file: StoredFile } {
  const path = join(tree.dir, name);
  tree.write(name, random(256 * 1024));
  const m = native.map(path);
  const { stored, mapping: real } = adopt(path, { kind: 'mapped', token: m.transfer(), size: m.size, mtimeMs: 0, ino: 0, crc32c: 0, blocks: undefined });
  m.close();
  const mapping = new Proxy(real!, {
    get: (t, p) => {
      if (p === 'resident') return (s: number, l: number) => (t.resident(s, l), resident()); // the real call too: it throws once closed
      const v = Reflect.get(t, p) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v; // private fields need the real this
    },
  }) as Mapping;
  return { file: stored, mapping, warming: undefined, usedAt: 0 };
}

describe('re-warming dropped pages', () => {
  it('reads them back in the pool once for every concurrent request, and counts it', async () => {
    const events = { rewarm: 0, failed: 0 };
    const tier = new MemoryTier<Resident>(1024 * 1024 * 1024, (f) => pool.warm(f), { rewarm: () => events.rewarm++, rewarmFailed: () => events.failed++ });
    let paged = false;
    const e = object('dropped.ts', () => paged);
    const before = tasks;
    const waits = [tier.ensureResident(e, 0, 1000), tier.ensureResident(e, 5000, 1000), tier.ensureResident(e, 0, e.file.size)];
    expect(waits.every((w) => w !== undefined && w === waits[0])).toBe(true);
    await waits[0];
    paged = true;
    expect(events).toEqual({ rewarm: 1, failed: 0 });
    expect(tasks - before).toBe(1);
    expect(e.warming).toBeUndefined();
    expect(tier.ensureResident(e, 0, 1000)).toBeUndefined(); // resident now: nothing to wait for
    expect(tasks - before).toBe(1);
  });

  it('never waits for an empty range, nor for a copied object', () => {
    const tier = new MemoryTier<Resident>(1024, (f) => pool.warm(f));
    const e = object('empty-range.ts', () => false);
    expect(tier.ensureResident(e, 0, 0)).toBeUndefined();
    expect(tier.ensureResident({ ...e, mapping: undefined }, 0, 10)).toBeUndefined();
  });

  it('a failed re-read is reported and the send goes ahead', async () => {
    const failures: string[] = [];
    const tier = new MemoryTier<Resident>(1024 * 1024, (f) => pool.warm(f), { rewarmFailed: (_f, err) => failures.push(err.code ?? '') });
    const e = object('vanished.ts', () => false);
    unlinkSync(e.file.file);
    await expect(tier.ensureResident(e, 0, 10)).resolves.toBeUndefined();
    expect(failures).toEqual(['ENOENT']);
  });
});

describe('an object leaving the tier', () => {
  it('stays usable by a request that got it a moment before (no closed-handle error)', async () => {
    const tier = new MemoryTier<Resident>(300 * 1024, (f) => pool.warm(f));
    const a = object('a.ts', () => true);
    tier.set('a', a);
    const inFlight = tier.get('a')!;
    tier.set('b', object('b.ts', () => true)); // evicts a: 2 × 256 KiB > 300 KiB
    expect(tier.get('a')).toBeUndefined();
    expect(() => tier.ensureResident(inFlight, 0, 1000)).not.toThrow();
    expect(inFlight.file.view(0, 10).length).toBe(10);
    expect(inFlight.mapping!.slice(100, 10).length).toBe(10);
    // after this turn of the event loop its handle is closed, and a request that waited across
    // it (a revalidation) still sends from the whole-file view
    await new Promise((r) => setImmediate(r));
    expect(() => inFlight.mapping!.slice(100, 10)).toThrow(expect.objectContaining({ code: 'ERR_SEGD_CLOSED' }));
    expect(tier.ensureResident(inFlight, 0, 1000)).toBeUndefined();
    expect(inFlight.file.view(0, 10).length).toBe(10);
  });
});
