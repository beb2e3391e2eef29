/**
 * The memory tier's re-warm: when the kernel dropped a cached object's pages, a send would fault
 * them back in on the event loop, so the pages are read back in the pool first (one read shared
 * by every request that finds them gone). The mapping and the pool are real; only the kernel's
 * answer to mincore() is forced, since dropping a mapped file's pages on demand is not possible
 * from a test.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { readFileSync, realpathSync, truncateSync, unlinkSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { native, type Mapping } from '../src/native/index.js';
import { LoadPool } from '../src/pool/load-pool.js';
import { MemoryTier } from '../src/store/memory.js';
import { adopt, bytesOf, MAX_VIEW, type ObjectFacts, type Resident, type StoredFile } from '../src/store/objects.js';
import { FileStore, type Entry, type Outcome } from '../src/store/folder.js';
import { random, tempTree } from './helpers/content.js';
import { get, parseMultipart } from './helpers/http.js';
import { eventually } from './helpers/wait.js';
import { respond } from '../src/serve/respond.js';
import { describe as describeObject } from '../src/serve/representation.js';
import { DEFAULT_CACHE_POLICY } from '../src/http/cache-control.js';
import type { Metrics } from '../src/observe/metrics.js';
import { skipping } from './helpers/native.js';

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
  const { stored, mapping: real } = adopt(path, { kind: 'mapped', token: m.transfer(), size: m.size, mtimeMs: 0, ino: 0, crc32c: m.crc32c(), blocks: undefined });
  m.close();
  const mapping = new Proxy(real!, {
    get: (t, p) => {
      if (p === 'resident') return (s: number, l: number) => (t.resident(s, l), resident()); // the real call too: it throws once closed
      const v = Reflect.get(t, p) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v; // private fields need the real this
    },
  }) as Mapping;
  return { file: stored, mapping, warming: undefined, mismatched: false, usedAt: 0 };
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

describe('the tier\'s bookkeeping (in process)', () => {
  /** `bytes` as counted by the tier for a real object of 256 KiB. */
  const SIZE = 256 * 1024;
  const closed = (e: Resident): boolean => {
    try {
      e.mapping!.slice(0, 1);
      return false;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_SEGD_CLOSED') return true;
      throw err;
    }
  };
  const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

  it('keeps an object exactly as big as the tier, and refuses one a byte bigger', () => {
    const tier = new MemoryTier<Resident>(SIZE, (f) => pool.warm(f));
    tier.set('fits', object('fits.ts', () => true));
    expect(tier.peek('fits')).toBeDefined();
    expect(tier.bytes).toBe(SIZE);
    const small = new MemoryTier<Resident>(SIZE - 1, (f) => pool.warm(f));
    small.set('big', object('too-big.ts', () => true));
    expect(small.size).toBe(0);
  });

  it('counts an eviction as one, and neither a delete, a replacement nor a clear', () => {
    let evictions = 0;
    const tier = new MemoryTier<Resident>(300 * 1024, (f) => pool.warm(f), { evict: () => evictions++ });
    tier.set('a', object('ev-a.ts', () => true));
    tier.delete('a');
    expect(tier.peek('a')).toBeUndefined();
    tier.set('a', object('ev-a2.ts', () => true));
    tier.set('a', object('ev-a3.ts', () => true)); // replaced under the same key
    expect(evictions).toBe(0);
    tier.set('b', object('ev-b.ts', () => true)); // evicts a: 2 × 256 KiB > 300 KiB
    expect(evictions).toBe(1);
    tier.clear();
    expect(evictions).toBe(1);
  });

  it('deleteIf deletes only the object it is given', () => {
    const tier = new MemoryTier<Resident>(1024 * 1024, (f) => pool.warm(f));
    const old = object('old.ts', () => true);
    const newer = object('newer.ts', () => true);
    tier.set('k', newer);
    tier.deleteIf('k', old); // a newer object replaced it meanwhile: kept
    expect(tier.peek('k')).toBe(newer);
    tier.deleteIf('k', newer);
    expect(tier.peek('k')).toBeUndefined();
    expect(tier.size).toBe(0);
  });

  it('admits: an object bigger than the tier never; one that fits in the room left always', () => {
    const tier = new MemoryTier<Resident>(2 * SIZE, (f) => pool.warm(f));
    expect(tier.admits(2 * SIZE + 1, 1000, 0)).toBe(false); // even into an empty tier
    expect(tier.admits(2 * SIZE, 1000, 0)).toBe(true); // exactly the tier
    tier.set('a', object('adm-a.ts', () => true));
    tier.get('a', 5000); // just used
    expect(tier.admits(SIZE, 1000, 5000)).toBe(true); // exactly the room left: nothing displaced
    expect(tier.admits(SIZE + 1, 1000, 5000)).toBe(false); // would displace a, used just now
  });

  it('admits over a full tier only what is asked more often than its least recent object (more than twice the gap)', () => {
    const tier = new MemoryTier<Resident>(2 * SIZE, (f) => pool.warm(f));
    tier.set('old', object('adm-old.ts', () => true));
    tier.set('new', object('adm-new.ts', () => true));
    tier.get('old', 1000);
    tier.get('new', 9000); // 'old' stays the least recently used
    expect(tier.admits(SIZE, 1000, 3000)).toBe(false); // old used 2000 ms ago: exactly twice the gap
    expect(tier.admits(SIZE, 1000, 3001)).toBe(true); // a millisecond more
    expect(tier.admits(SIZE, 999, 3000)).toBe(true);
  });

  it('closes a leaving object\'s handle after this turn when its file has one whole view; a bigger one\'s goes with GC', async () => {
    const tier = new MemoryTier<Resident>(2 ** 33, (f) => pool.warm(f));
    // Real mappings; only the size the tier reads is that of a file too large to write in a test.
    const viewed = object('at-limit.ts', () => true);
    const atLimit = { ...viewed, file: { ...viewed.file, size: MAX_VIEW } };
    const sliced = object('over-limit.ts', () => true);
    const overLimit = { ...sliced, file: { ...sliced.file, size: MAX_VIEW + 1 } };
    tier.set('at', atLimit);
    tier.set('over', overLimit);
    expect(tier.size).toBe(2);
    tier.delete('at');
    tier.delete('over');
    expect(closed(atLimit)).toBe(false); // not within this turn
    await turn();
    expect(closed(atLimit)).toBe(true);
    expect(closed(overLimit)).toBe(false);
  });

  it('clear closes every handle at once, and later evictions close theirs again', async () => {
    const tier = new MemoryTier<Resident>(300 * 1024, (f) => pool.warm(f));
    const a = object('clr-a.ts', () => true);
    tier.set('a', a);
    tier.clear();
    expect(tier.size).toBe(0);
    expect(tier.bytes).toBe(0);
    expect(closed(a)).toBe(true);
    const b = object('clr-b.ts', () => true);
    tier.set('b', b);
    tier.set('c', object('clr-c.ts', () => true)); // evicts b
    await turn();
    expect(closed(b)).toBe(true);
  });

  it('a residency check that fails for another reason than a closed handle is not taken for resident', () => {
    const tier = new MemoryTier<Resident>(1024 * 1024, (f) => pool.warm(f));
    const e = object('eio.ts', () => {
      throw Object.assign(new Error('mincore failed'), { code: 'EIO' });
    });
    expect(() => tier.ensureResident(e, 0, 10)).toThrow(expect.objectContaining({ code: 'EIO' }));
  });
});

describe('adopting what a pool task loaded', () => {
  const facts = { mtimeMs: 1_700_000_000_123.5, ino: 4242, crc32c: 0xdeadbeef };

  it('a copy: its facts, views of its bytes, and its compressed variants as Buffers over the same memory', () => {
    const bytes = random(1000);
    const gzip = new Uint8Array([1, 2, 3]); // as structured clone hands them over: plain Uint8Arrays
    const br = new Uint8Array(new ArrayBuffer(16), 4, 2);
    const playlist = { live: false } as never;
    const { stored, mapping } = adopt('/x/a.m3u8', { kind: 'copied', bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length), size: 1000, ...facts, playlist, gzip, br });
    expect(mapping).toBeUndefined();
    expect(stored).toMatchObject({ file: '/x/a.m3u8', size: 1000, ...facts, blocks: undefined, playlist });
    expect(Buffer.isBuffer(stored.gzip) && Buffer.isBuffer(stored.br)).toBe(true);
    expect([...stored.gzip!]).toEqual([1, 2, 3]);
    expect(stored.gzip!.buffer).toBe(gzip.buffer);
    expect([stored.br!.buffer, stored.br!.byteOffset, stored.br!.length]).toEqual([br.buffer, 4, 2]);
    expect(bytesOf(stored)).toBe(1000 + 3 + 2);
    expect(stored.view(5, 10).equals(bytes.subarray(5, 15))).toBe(true);
    expect(stored.view(0, 1000).equals(bytes)).toBe(true);
    expect(stored.view(5, 10).buffer).toBe(bytes.buffer); // a view, not a copy
    expect(stored.view(0, 1000)).toBe(stored.view(0, 1000)); // the whole object: one Buffer, not a new view per answer
    expect(stored.view(0, 999)).not.toBe(stored.view(0, 999));
    expect(stored.view(1, 1000).equals(bytes.subarray(1))).toBe(true); // the whole length from elsewhere: not the whole object
  });

  it('a copy without compressed variants has none', () => {
    const bytes = Buffer.from('plain');
    const { stored } = adopt('/x/b.ts', { kind: 'copied', bytes, size: bytes.length, ...facts });
    expect(stored.gzip).toBeUndefined();
    expect(stored.br).toBeUndefined();
    expect(stored.playlist).toBeUndefined();
    expect(bytesOf(stored)).toBe(5);
    expect(stored.view(1, 3).toString()).toBe('lai');
  });

  it('a mapping: its facts and block table, and views that stop at the object (not the trailer after it)', () => {
    const path = join(tree.dir, 'with-trailer.bin');
    const bytes = tree.write('with-trailer.bin', random(5000));
    const m = native.map(path);
    const blocks = Uint32Array.of(1, 2);
    const { stored, mapping } = adopt(path, { kind: 'mapped', token: m.transfer(), size: 4000, ...facts, blocks });
    m.close();
    try {
      expect(stored).toMatchObject({ file: path, size: 4000, ...facts, playlist: undefined, gzip: undefined, br: undefined });
      expect(stored.blocks).toBe(blocks);
      expect(mapping).toBeDefined();
      expect(bytesOf(stored)).toBe(4000);
      expect(stored.view(100, 50).equals(bytes.subarray(100, 150))).toBe(true);
      expect(stored.view(3990, 100).equals(bytes.subarray(3990, 4000))).toBe(true); // the trailer's bytes are not the object's
      expect(mapping!.slice(0, 5000).equals(bytes)).toBe(true);
      expect(stored.view(0, 4000)).toBe(stored.view(0, 4000));
      expect(stored.view(0, 4000).equals(bytes.subarray(0, 4000))).toBe(true);
    } finally {
      mapping?.close();
    }
  });
});

describe.skipIf(skipping('2 GiB mappings', native.kind === 'fallback' ? 'the TypeScript fallback copies files: 2 GiB would be read into memory' : undefined))('an object of 2 GiB or more (sparse files: no disk is used)', () => {
  /** A file of `size` zero bytes, adopted as a mapped load; its handle closed at once. */
  function adoptedSparse(name: string, size: number): StoredFile {
    const path = join(tree.dir, name);
    tree.write(name, Buffer.alloc(0));
    truncateSync(path, size);
    const m = native.map(path);
    const { stored, mapping } = adopt(path, { kind: 'mapped', token: m.transfer(), size, mtimeMs: 0, ino: 0, crc32c: 0, blocks: undefined });
    m.close();
    mapping!.close();
    unlinkSync(path);
    return stored;
  }

  it('up to 2 GiB, one whole-file view holds the mapping: views outlive the handle', () => {
    const stored = adoptedSparse('at-view-limit.bin', MAX_VIEW);
    expect(stored.view(MAX_VIEW - 10, 10).equals(Buffer.alloc(10))).toBe(true);
  });

  it('a byte more, every view is sliced from the mapping through its handle', () => {
    const stored = adoptedSparse('over-view-limit.bin', MAX_VIEW + 1);
    expect(() => stored.view(0, 10)).toThrow(expect.objectContaining({ code: 'ERR_SEGD_CLOSED' }));
  });
});

describe('copy or map', () => {
  it('a file of up to 64 KiB is copied (no mapping of its own), a byte more is mapped', async () => {
    const store = new FileStore<ObjectFacts>({ maxBytes: 64 * 1024 * 1024, validityMs: 600_000, pool, describe: (f) => f, verify: true });
    const mount = { realRoot: realpathSync(tree.dir), followSymlinks: false };
    const loaded = async (name: string, size: number): Promise<Entry<ObjectFacts>> => {
      const bytes = tree.write(name, random(size));
      const o: Outcome<ObjectFacts> = await store.fetch(join(realpathSync(tree.dir), name), mount);
      expect(o.kind).toBe('found');
      const e = (o as Extract<Outcome<ObjectFacts>, { kind: 'found' }>).entry as Entry<ObjectFacts>;
      expect(e.file.view(0, size).equals(bytes)).toBe(true);
      return e;
    };
    try {
      expect((await loaded('small.ts', 64 * 1024)).mapping).toBeUndefined();
      expect((await loaded('large.ts', 64 * 1024 + 1)).mapping).toBeDefined();
    } finally {
      store.clear();
    }
  });
});

describe('an answer from an object whose pages were dropped (respond.ts over a real socket)', () => {
  it('sends the parts of a multi-range answer only once every range has been read back', async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    let rewarms = 0;
    const tier = new MemoryTier<Resident>(1 << 30, (f) => gate.then(() => pool.warm(f)), { rewarm: () => rewarms++ });
    let paged = false;
    const e = object('multi.m4s', () => paged);
    const bytes = readFileSync(e.file.file);
    const entry = { ...e, rep: describeObject(e.file, { cachePolicy: DEFAULT_CACHE_POLICY, corsHeaders: [] }) };
    const sink = { request: () => {}, body: () => {} } as unknown as Metrics; // counts are not what this test is about
    const server = createServer((req, res) => void respond(req, res, entry, { memory: tier, metrics: sink, maxRanges: 16, corsFor: undefined }));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      let answered = false;
      const reply = get(url, '/multi.m4s', { range: 'bytes=0-9,200000-200009' }).finally(() => (answered = true));
      await eventually(() => rewarms === 1, { what: 'the re-read to start' });
      await new Promise((r) => setTimeout(r, 100));
      expect(answered).toBe(false); // still waiting for the pages
      paged = true;
      open();
      const r = await reply;
      expect(r.status).toBe(206);
      expect(parseMultipart(r.body, r.headers['content-type']!).map((p) => p.data)).toEqual([bytes.subarray(0, 10), bytes.subarray(200000, 200010)]);
      expect(rewarms).toBe(1);
    } finally {
      server.close();
    }
  });
});
