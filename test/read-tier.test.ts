/**
 * The read tier (src/store/read-tier.ts) through a real server: files too big for the memory tier
 * are loaded once, then served by reading only the blocks a request needs, each block checked;
 * a file rewritten in place is cut short, never sent as a 200 under its old ETag.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { appendFileSync, closeSync, openSync, realpathSync, renameSync, statSync, truncateSync, unlinkSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { RunningServer } from '../src/server/listen.js';
import { startServer } from './helpers/transport.js';
import { native } from '../src/native/index.js';
import { Metrics } from '../src/observe/metrics.js';
import { BLOCK, blockTable } from '../src/store/blocks.js';
import { ChangedError, ReadEntry, ReadTier, RECACHE_MS, type Chunk, type ReadFacts } from '../src/store/read-tier.js';
import { attempt, get, metric, parseMultipart } from './helpers/http.js';
import { random, tempTree, type TempTree } from './helpers/content.js';
import { fdsOn, skipping } from './helpers/native.js';
import { evict, noDirectReads, resident } from './helpers/page-cache.js';
import { eventually } from './helpers/wait.js';

const SIZE = 3 * 1024 * 1024 + 12345; // bigger than the memory tier below; a short last block

const READ_HITS = 'segd_cache_hits_total{tier="read"}';

let tree: TempTree;
let srv: RunningServer;
let big: Buffer;

beforeAll(async () => {
  tree = tempTree();
  big = tree.write('big.m4s', random(SIZE));
  srv = await startServer({ root: tree.dir, host: '127.0.0.1', port: 0, threads: 1, cacheSize: '1MiB', validityMs: 60_000, player: false });
  const first = await get(srv.url, '/big.m4s');
  expect(first.body.equals(big)).toBe(true);
});
afterAll(async () => {
  await srv?.close(1000);
  tree?.remove();
});

describe('a file larger than the memory tier', () => {
  it('is loaded once, then every answer is read from the file: whole, ranges across blocks, the short last block, HEAD, 304', async () => {
    const misses = await metric(srv.url, 'segd_cache_misses_total');
    const hits = await metric(srv.url, READ_HITS);
    let requests = 1;
    const whole = await get(srv.url, '/big.m4s');
    expect(whole.status).toBe(200);
    expect(whole.body.equals(big)).toBe(true);
    const etag = whole.headers.etag!;
    for (const [s, e] of [[0, 0], [BLOCK - 1, BLOCK], [5, 3 * BLOCK + 7], [SIZE - 100, SIZE - 1], [17 * BLOCK, 33 * BLOCK - 1], [1_000_000, 2_600_000]] as const) {
      const r = await get(srv.url, '/big.m4s', { range: `bytes=${s}-${e}` });
      requests++;
      expect(r.status).toBe(206);
      expect(r.headers['content-range']).toBe(`bytes ${s}-${e}/${SIZE}`);
      expect(r.body.equals(big.subarray(s, e + 1))).toBe(true);
    }
    const head = await get(srv.url, '/big.m4s', {}, 'HEAD');
    expect(head.headers['content-length']).toBe(String(SIZE));
    expect(head.body.length).toBe(0);
    expect((await get(srv.url, '/big.m4s', { 'if-none-match': etag })).status).toBe(304);
    requests += 2;
    expect(await metric(srv.url, 'segd_cache_misses_total')).toBe(misses); // no reload of the whole file
    expect(await metric(srv.url, READ_HITS)).toBe(hits + requests);
    expect(await metric(srv.url, 'segd_read_tier_files')).toBe(1);
  });

  it('answers several ranges as multipart/byteranges, and its HEAD with the same length', async () => {
    const range = `bytes=0-9,${BLOCK - 3}-${BLOCK + 2},${SIZE - 5}-`;
    const r = await get(srv.url, '/big.m4s', { range });
    expect(r.status).toBe(206);
    const parts = parseMultipart(r.body, r.headers['content-type']!);
    expect(parts.map((p) => p.data)).toEqual([big.subarray(0, 10), big.subarray(BLOCK - 3, BLOCK + 3), big.subarray(SIZE - 5)]);
    const sent = await metric(srv.url, 'segd_body_bytes_sent_total');
    const head = await get(srv.url, '/big.m4s', { range }, 'HEAD');
    expect(head.headers['content-length']).toBe(String(r.body.length));
    expect(head.body.length).toBe(0);
    expect(await metric(srv.url, 'segd_body_bytes_sent_total')).toBe(sent);
  });

  it('answers a HEAD without reading the file: no body bytes counted', async () => {
    const sent = await metric(srv.url, 'segd_body_bytes_sent_total');
    const hits = await metric(srv.url, READ_HITS);
    for (const headers of [{}, { range: 'bytes=5-70000' }] as Record<string, string>[]) {
      const head = await get(srv.url, '/big.m4s', headers, 'HEAD');
      expect(head.status).toBe(headers.range === undefined ? 200 : 206);
      expect(head.body.length).toBe(0);
    }
    expect(await metric(srv.url, READ_HITS)).toBe(hits + 2);
    expect(await metric(srv.url, 'segd_body_bytes_sent_total')).toBe(sent);
  });
});

const MTIME = new Date(1_700_000_000_000);

/** A random file of `size` bytes with a fixed mtime, in a tree of its own, served with a memory tier smaller than it. */
async function served(name: string, size: number): Promise<{ t: TempTree; file: string; before: Buffer; s: RunningServer }> {
  const t = tempTree();
  const file = join(t.dir, name);
  const before = t.write(name, random(size));
  utimesSync(file, MTIME, MTIME);
  const s = await startServer({ root: t.dir, host: '127.0.0.1', port: 0, threads: 1, cacheSize: '1MiB', validityMs: 60_000, player: false });
  return { t, file, before, s };
}

/** Writes `bytes` at `position` into the file itself (not a new file renamed over it), then puts its mtime back. */
function rewriteInPlace(file: string, bytes: Buffer, position: number, mtime: Date): void {
  const fd = openSync(file, 'r+');
  writeSync(fd, bytes, 0, bytes.length, position);
  closeSync(fd);
  utimesSync(file, mtime, mtime);
}

describe('admission back into the memory tier', () => {
  const SEG = 400 * 1024; // two fit in the 1 MiB memory tier
  let t: TempTree;
  let s: RunningServer;
  const segs: Buffer[] = [];
  beforeAll(async () => {
    t = tempTree();
    for (let i = 0; i < 6; i++) segs.push(t.write(`s${i}.m4s`, random(SEG)));
    s = await startServer({ root: t.dir, host: '127.0.0.1', port: 0, threads: 1, cacheSize: '1MiB', validityMs: 60_000, player: false });
  });
  afterAll(async () => {
    await s?.close(1000);
    t?.remove();
  });
  const fetchSeg = async (i: number): Promise<void> => expect((await get(s.url, `/s${i}.m4s`)).body.equals(segs[i]!)).toBe(true);

  it('a scan of more than the tier, every object asked once per turn, displaces nothing', async () => {
    for (let i = 0; i < 6; i++) await fetchSeg(i); // each loaded once; the last two stay in memory
    for (let turn = 0; turn < 4; turn++) for (let i = 0; i < 6; i++) await fetchSeg(i);
    expect(await metric(s.url, 'segd_cache_promotions_total')).toBe(0);
    expect(await metric(s.url, 'segd_cache_misses_total')).toBe(6);
  });

  it('an object that turns hot while the tier sits idle is loaded back into it', async () => {
    await new Promise((r) => setTimeout(r, 300)); // the tier's objects go unused
    const memoryHits = await metric(s.url, 'segd_cache_hits_total{tier="memory"}');
    await fetchSeg(0); // read: used 300 ms ago, no hotter than the tier
    expect(await metric(s.url, 'segd_cache_promotions_total')).toBe(0);
    await fetchSeg(0); // asked again at once: hotter than anything in the tier
    expect(await metric(s.url, 'segd_cache_promotions_total')).toBe(1);
    await eventually(async () => {
      await fetchSeg(0);
      return (await metric(s.url, 'segd_cache_hits_total{tier="memory"}')) > memoryHits;
    }, { what: 's0 answered from the memory tier' });
  });
});

describe('a file rewritten in place (same size, same mtime)', () => {
  it('is cut short before its first byte, never a 200 under the old ETag, and served anew on the next request', async () => {
    const { t, file, before, s } = await served('rewritten.m4s', 2 * 1024 * 1024);
    try {
      const first = await get(s.url, '/rewritten.m4s');
      expect(first.body.equals(before)).toBe(true);
      const after = random(before.length);
      rewriteInPlace(file, after, 0, MTIME); // the inode, size and mtime stay: only the bytes tell

      const cut = await attempt(s.url, '/rewritten.m4s');
      expect(cut.cut).toBeDefined();
      expect(cut.status).toBe(0); // no head: the first block failed its check before anything was sent
      expect(await metric(s.url, 'segd_read_tier_mismatches_total')).toBe(1);

      const again = await get(s.url, '/rewritten.m4s');
      expect(again.status).toBe(200);
      expect(again.body.equals(after)).toBe(true);
      expect(again.headers.etag).not.toBe(first.headers.etag);
    } finally {
      await s.close(1000);
      t.remove();
    }
  });

  it('asked for several ranges, one of them over a changed block: cut before any part goes out', async () => {
    const { t, file, before, s } = await served('parts.m4s', 2 * 1024 * 1024);
    try {
      await get(s.url, '/parts.m4s');
      rewriteInPlace(file, Buffer.from([before[1_500_000]! ^ 0xff]), 1_500_000, MTIME);
      const r = await attempt(s.url, '/parts.m4s', { headers: { range: 'bytes=0-99,1499990-1500009' } });
      expect(r.cut).toBeDefined();
      expect(r.status).toBe(0); // every part is read and checked before the head
      expect(await metric(s.url, 'segd_read_tier_mismatches_total')).toBe(1);
    } finally {
      await s.close(1000);
      t.remove();
    }
  });

  it('mid-body, cuts the response short at the first block that changed', async () => {
    const { t, file, before, s } = await served('mid.m4s', 8 * 1024 * 1024);
    try {
      await get(s.url, '/mid.m4s');
      // One byte near the end: the first 7 MiB go out, then the block holding it fails its check.
      rewriteInPlace(file, Buffer.from([before[before.length - 10]! ^ 0xff]), before.length - 10, MTIME);
      const r = await attempt(s.url, '/mid.m4s');
      expect(r.status).toBe(200);
      expect(r.cut).toBeDefined();
      expect(r.body.length).toBeLessThan(before.length);
      expect(r.body.equals(before.subarray(0, r.body.length))).toBe(true); // what went out was the checked bytes
    } finally {
      await s.close(1000);
      t.remove();
    }
  });
});

describe('bytes outside the page cache', () => {
  it('are read off the event loop, and served right', async () => {
    const t = tempTree();
    const file = join(t.dir, 'cold.m4s');
    const bytes = t.write('cold.m4s', random(4 * 1024 * 1024));
    const s = await startServer({ root: t.dir, host: '127.0.0.1', port: 0, threads: 1, cacheSize: '1MiB', validityMs: 60_000, player: false });
    try {
      await get(s.url, '/cold.m4s'); // loaded (mapped) once; too big to stay in memory
      await evict(file);
      const before = await metric(s.url, 'segd_read_tier_disk_reads_total');
      const r = await get(s.url, '/cold.m4s');
      expect(r.body.equals(bytes)).toBe(true);
      expect(await metric(s.url, 'segd_read_tier_disk_reads_total')).toBeGreaterThan(before);
    } finally {
      await s.close(1000);
      t.remove();
    }
  });

  it('are counted: each in segd_read_tier_disk_reads_total, those past the page cache in segd_read_tier_direct_reads_total too', async () => {
    const m = new Metrics({ cacheBytes: () => 0, cacheEntries: () => 0, readTierFiles: () => 0, poolQueueDepth: () => 0, sigbusRepairs: () => 0, nativeHandles: () => 0 });
    m.diskRead(false);
    m.diskRead(true);
    m.diskRead(false);
    const text = await m.registry.metrics();
    expect(text).toMatch(/^segd_read_tier_disk_reads_total 3$/m);
    expect(text).toMatch(/^segd_read_tier_direct_reads_total 1$/m);
  });

  it.skipIf(skipping('reads past the page cache (a server)', noDirectReads))(
    'that left the page cache soon after the object was loaded are read past it: served right, counted, and the page cache is left without them',
    async () => {
      const t = tempTree();
      const file = join(t.dir, 'scan.m4s');
      const bytes = t.write('scan.m4s', random(2 * 1024 * 1024 + 777)); // a short last page
      const s = await startServer({ root: t.dir, host: '127.0.0.1', port: 0, threads: 1, cacheSize: '1MiB', validityMs: 60_000, player: false });
      try {
        await get(s.url, '/scan.m4s');
        await evict(file);
        const [disk, direct] = [await metric(s.url, 'segd_read_tier_disk_reads_total'), await metric(s.url, 'segd_read_tier_direct_reads_total')];
        expect((await get(s.url, '/scan.m4s')).body.equals(bytes)).toBe(true);
        const r = await get(s.url, '/scan.m4s', { range: 'bytes=1048000-2098000' });
        expect(r.status).toBe(206);
        expect(r.body.equals(bytes.subarray(1048000, 2098001))).toBe(true);
        expect(await metric(s.url, 'segd_read_tier_direct_reads_total')).toBeGreaterThanOrEqual(direct + 2);
        expect(await metric(s.url, 'segd_read_tier_disk_reads_total')).toBeGreaterThanOrEqual(disk + 2);
        expect(resident(file)).toBe(false);
      } finally {
        await s.close(1000);
        t.remove();
      }
    },
  );

  it.skipIf(skipping('preadv2(RWF_NOWAIT)', native.kind === 'fallback' ? 'the TypeScript fallback reads every byte off the event loop' : undefined))(
    'are the only ones that leave the event loop: resident bytes are copied at once',
    async () => {
      const before = await metric(srv.url, 'segd_read_tier_disk_reads_total');
      for (let i = 0; i < 5; i++) expect((await get(srv.url, '/big.m4s')).body.equals(big)).toBe(true);
      expect(await metric(srv.url, 'segd_read_tier_disk_reads_total')).toBe(before);
    },
  );
});

describe('the tier itself (in process)', () => {
  let t: TempTree;
  beforeAll(() => {
    t = tempTree();
  });
  afterAll(() => t?.remove());

  /** The facts the pool would have produced for `name`. */
  function factsOf(name: string, bytes: Buffer): ReadFacts {
    const file = realpathSync(join(t.dir, name));
    const st = statSync(file);
    const { blocks, crc32c } = blockTable(bytes.length, (o, n) => native.crc32c(bytes.subarray(o, o + n)));
    return { file, size: bytes.length, mtimeMs: st.mtimeMs, ino: st.ino, crc32c, blocks, playlist: undefined, gzip: undefined, br: undefined };
  }

  it('a chunk released twice goes back to the spare buffers once (two reads never share one)', async () => {
    const bytes = t.write('twice.bin', random(3 * BLOCK));
    const tier = new ReadTier<ReadEntry<null>>();
    const e = new ReadEntry('twice', factsOf('twice.bin', bytes), null, tier);
    for await (const c of e.chunks(0, bytes.length)) {
      expect(c.bytes.equals(bytes)).toBe(true);
      c.release();
      c.release();
    }
    expect(tier.buffer()).not.toBe(tier.buffer());
  });

  it('an entry evicted in the middle of a read keeps its descriptor until the read ends', async () => {
    const a = t.write('a.bin', random(40 * BLOCK)); // more than one chunk
    const b = t.write('b.bin', random(BLOCK));
    const tier = new ReadTier<ReadEntry<null>>({}, 1);
    const ea = new ReadEntry('a', factsOf('a.bin', a), null, tier);
    tier.set(ea);
    const fileA = ea.file.file;
    const reading = ea.chunks(0, a.length);
    const first = await reading.next();
    expect(first.done).toBe(false);
    expect(fdsOn(fileA)).toBe(1);
    tier.set(new ReadEntry('b', factsOf('b.bin', b), null, tier)); // evicts a
    expect(tier.get('a')).toBeUndefined();
    // Still being read: the descriptor must stay open (a close would land within a few ms).
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 10));
      expect(fdsOn(fileA)).toBe(1);
    }
    const parts = [first.value!.bytes];
    for (let r = await reading.next(); !r.done; r = await reading.next()) parts.push(Buffer.from(r.value.bytes));
    expect(Buffer.concat(parts).equals(a)).toBe(true);
    await eventually(() => fdsOn(fileA) === 0, { what: 'the evicted entry to close its descriptor' });
  });

  it('is not usable once its file is gone or replaced, and leaves the tier then', async () => {
    const bytes = t.write('gone.bin', random(BLOCK));
    const tier = new ReadTier<ReadEntry<null>>();
    const gone = new ReadEntry('gone', factsOf('gone.bin', bytes), null, tier);
    tier.set(gone);
    unlinkSync(gone.file.file);
    expect(await gone.usable()).toBe(false);
    expect(tier.get('gone')).toBeUndefined();

    const old = t.write('swapped.bin', random(BLOCK));
    const swapped = new ReadEntry('swapped', factsOf('swapped.bin', old), null, tier);
    tier.set(swapped);
    writeFileSync(join(t.dir, 'swapped.new'), random(BLOCK));
    renameSync(join(t.dir, 'swapped.new'), swapped.file.file); // a new inode under the name
    expect(await swapped.usable()).toBe(false);
    expect(tier.get('swapped')).toBeUndefined();
  });

  it('reports a mismatch with the file and the entry\'s key, and drops the entry', async () => {
    const bytes = t.write('rot.bin', random(2 * BLOCK));
    const seen: [string, string][] = [];
    const tier = new ReadTier<ReadEntry<null>>({ mismatch: (file, slot) => seen.push([file, slot]) });
    const facts = factsOf('rot.bin', bytes);
    const e = new ReadEntry('rot-key', { ...facts, blocks: Uint32Array.from(facts.blocks, (c, i) => (i === 1 ? c ^ 1 : c)) }, null, tier);
    tier.set(e);
    const got: Buffer[] = [];
    await expect(
      (async () => {
        for await (const c of e.chunks(0, bytes.length)) got.push(c.bytes);
      })(),
    ).rejects.toThrow(/changed while it was read/);
    expect(got).toEqual([]); // one chunk holds both blocks: nothing of it went out
    expect(seen).toEqual([[facts.file, 'rot-key']]);
    expect(tier.get('rot-key')).toBeUndefined();
  });
});

describe('a read tier entry and its descriptor (in process)', () => {
  /** What the tier reads per step (read-tier.ts CHUNK): 16 blocks. */
  const CHUNK = 16 * BLOCK;
  const FIXED = 1_700_000_000; // whole seconds: utimes puts it back exactly
  let t: TempTree;
  beforeAll(() => {
    t = tempTree();
  });
  afterAll(() => t?.remove());

  /** A file of `bytes` with a fixed mtime, and the facts the pool would have produced for it. */
  function written(name: string, bytes: Buffer): { file: string; facts: ReadFacts } {
    t.write(name, bytes);
    const file = realpathSync(join(t.dir, name));
    utimesSync(file, FIXED, FIXED);
    const st = statSync(file);
    const { blocks, crc32c } = blockTable(bytes.length, (o, n) => native.crc32c(bytes.subarray(o, o + n)));
    return { file, facts: { file, size: bytes.length, mtimeMs: st.mtimeMs, ino: st.ino, crc32c, blocks, playlist: undefined, gzip: undefined, br: undefined } };
  }
  async function all(chunks: AsyncGenerator<Chunk>): Promise<Buffer[]> {
    const out: Buffer[] = [];
    for await (const c of chunks) {
      out.push(Buffer.from(c.bytes));
      c.release();
    }
    return out;
  }
  const failure = (p: Promise<unknown>): Promise<unknown> => p.then(() => undefined, (err: unknown) => err);

  it('reads only the blocks a range touches (a damaged block elsewhere does not matter)', async () => {
    const bytes = random(3 * BLOCK);
    const { facts } = written('touch.bin', bytes);
    const e = new ReadEntry('touch', { ...facts, blocks: Uint32Array.from(facts.blocks, (c, i) => (i === 2 ? c ^ 1 : c)) }, null, new ReadTier());
    expect(Buffer.concat(await all(e.chunks(10, 100)))).toEqual(bytes.subarray(10, 110));
    expect(Buffer.concat(await all(e.chunks(BLOCK - 5, BLOCK + 5)))).toEqual(bytes.subarray(BLOCK - 5, 2 * BLOCK));
    await expect(all(e.chunks(2 * BLOCK, 1))).rejects.toBeInstanceOf(ChangedError);
  });

  it('yields whole steps of bytes, never an empty one, and bytes() puts several steps together', async () => {
    const bytes = random(2 * CHUNK + 1000);
    const { facts } = written('steps.bin', bytes);
    const e = new ReadEntry('steps', facts, null, new ReadTier());
    expect((await all(e.chunks(0, CHUNK))).map((c) => c.length)).toEqual([CHUNK]);
    expect((await all(e.chunks(0, 2 * CHUNK))).map((c) => c.length)).toEqual([CHUNK, CHUNK]);
    expect((await all(e.chunks(7, 2 * CHUNK))).map((c) => c.length)).toEqual([CHUNK - 7, CHUNK, 7]);
    expect((await e.bytes(5, 2 * CHUNK + 900)).equals(bytes.subarray(5, 2 * CHUNK + 905))).toBe(true);
  });

  it('a released buffer is handed to the next read; at most 64 are kept', async () => {
    const bytes = random(BLOCK);
    const { facts } = written('spare.bin', bytes);
    const tier = new ReadTier<ReadEntry<null>>();
    const e = new ReadEntry('spare', facts, null, tier);
    const one = e.chunks(0, 10);
    const c = (await one.next()).value as Chunk;
    c.release();
    expect(tier.buffer().buffer === c.bytes.buffer).toBe(true); // (not toBe: a failure would print a 1 MiB diff)
    // 65 reads at once hold 65 buffers; released, 64 of them are kept
    const reads = Array.from({ length: 65 }, () => e.chunks(0, 10));
    const held = await Promise.all(reads.map(async (r) => ((await r.next()).value as Chunk)));
    for (const h of held) h.release();
    for (const r of reads) await r.return(undefined);
    const mine = new Set(held.map((h) => h.bytes.buffer));
    const again = Array.from({ length: 65 }, () => tier.buffer().buffer);
    expect(again.filter((b) => mine.has(b)).length).toBe(64);
    expect(mine.has(again[64]!)).toBe(false);
  });

  it('keeps reading the file it opened when another file is renamed over it', async () => {
    const bytes = random(2 * BLOCK);
    const { file, facts } = written('kept.bin', bytes);
    const e = new ReadEntry('kept', facts, null, new ReadTier());
    expect(Buffer.concat(await all(e.chunks(0, bytes.length))).equals(bytes)).toBe(true);
    writeFileSync(`${file}.new`, random(2 * BLOCK));
    utimesSync(`${file}.new`, FIXED, FIXED);
    renameSync(`${file}.new`, file);
    expect(Buffer.concat(await all(e.chunks(0, bytes.length))).equals(bytes)).toBe(true);
    expect(await e.usable()).toBe(true);
  });

  it('opens only the very file its facts describe: inode, size and mtime each count', async () => {
    const tier = new ReadTier<ReadEntry<null>>();
    // another inode, same size and mtime
    const a = written('ino.bin', random(BLOCK));
    writeFileSync(`${a.file}.new`, random(BLOCK));
    utimesSync(`${a.file}.new`, FIXED, FIXED);
    renameSync(`${a.file}.new`, a.file);
    // same inode and mtime, one byte longer
    const b = written('size.bin', random(BLOCK));
    appendFileSync(b.file, 'x');
    utimesSync(b.file, FIXED, FIXED);
    // same inode and size, another mtime
    const c = written('mtime.bin', random(BLOCK));
    utimesSync(c.file, FIXED + 1, FIXED + 1);
    for (const [slot, w] of [['ino', a], ['size', b], ['mtime', c]] as const) {
      const e = new ReadEntry(slot, w.facts, null, tier);
      tier.set(e);
      const err = await failure(all(e.chunks(0, 10)));
      expect(err).toBeInstanceOf(ChangedError);
      expect(err).toMatchObject({ code: 'ESEGDCHANGED', message: `${w.file} changed since it was checked` });
      expect(await e.usable()).toBe(false);
      expect(tier.get(slot)).toBeUndefined();
    }
  });

  // Inside a block, at a block's end, and at the step's start (the next step finds no byte at all).
  it.each([CHUNK + BLOCK + 100, CHUNK + BLOCK, CHUNK])('a file truncated in place to %i bytes while it is read cuts the read (ChangedError), and does not hang it', async (cut) => {
    const bytes = random(3 * CHUNK);
    const { file, facts } = written(`cut-${cut}.bin`, bytes);
    const e = new ReadEntry('cut', facts, null, new ReadTier());
    const reading = e.chunks(0, bytes.length);
    expect((await reading.next()).value!.bytes.equals(bytes.subarray(0, CHUNK))).toBe(true);
    truncateSync(file, cut);
    await expect(reading.next()).rejects.toMatchObject({ code: 'ESEGDCHANGED' });
  });

  it('a mismatch of an entry that was replaced in the tier leaves its replacement; clear empties the tier', async () => {
    const seen: string[] = [];
    const tier = new ReadTier<ReadEntry<null>>({ mismatch: (_f, slot) => seen.push(slot) });
    const { facts } = written('replaced.bin', random(BLOCK));
    const old = new ReadEntry('k', { ...facts, blocks: Uint32Array.from(facts.blocks, (c) => c ^ 1) }, null, tier);
    tier.set(old);
    const newer = new ReadEntry('k', facts, null, tier);
    tier.set(newer);
    await expect(all(old.chunks(0, 10))).rejects.toBeInstanceOf(ChangedError);
    expect(seen).toEqual(['k']);
    expect(tier.get('k')).toBe(newer);
    tier.clear();
    expect(tier.size).toBe(0);
    expect(tier.get('k')).toBeUndefined();
  });

  it('retired in the middle of a read that ends within the grace: a request that found it a moment before still reads, though the file is gone', async () => {
    const bytes = random(2 * CHUNK);
    const { file, facts } = written('grace.bin', bytes);
    const tier = new ReadTier<ReadEntry<null>>({}, 1);
    const e = new ReadEntry('grace', facts, null, tier);
    tier.set(e);
    const a = e.chunks(0, bytes.length);
    const c = (await a.next()).value!;
    const first = { bytes: Buffer.from(c.bytes) };
    c.release();
    tier.set(new ReadEntry('other', written('other.bin', random(BLOCK)).facts, null, tier)); // evicts e: retired
    unlinkSync(file); // as an evicted cache file is
    const rest = await all(a);
    expect(Buffer.concat([first.bytes, ...rest]).equals(bytes)).toBe(true);
    expect(Buffer.concat(await all(e.chunks(0, bytes.length))).equals(bytes)).toBe(true); // the later request
    await eventually(() => fdsOn(file + ' (deleted)') === 0 && fdsOn(file) === 0, { what: 'the retired entry to close its descriptor' });
  });

  describe.skipIf(skipping('reads past the page cache (in process)', noDirectReads))('bytes the page cache did not keep', () => {
    /** A tier whose disk reads are told, `true` for one past the page cache. */
    function watched(): { tier: ReadTier<ReadEntry<null>>; reads: boolean[] } {
      const reads: boolean[] = [];
      return { tier: new ReadTier<ReadEntry<null>>({ diskRead: (direct) => reads.push(direct) }), reads };
    }

    it('are read past it within RECACHE_MS of the last pass through it (any range, a short last page), and through it after that, once', async () => {
      const bytes = random(2 * CHUNK + 1000);
      const { file, facts } = written('direct.bin', bytes);
      const { tier, reads } = watched();
      const e = new ReadEntry('direct', facts, null, tier);
      for (const [start, length] of [[0, bytes.length], [7, 2 * CHUNK], [CHUNK + 4095, 1002], [2 * CHUNK + 999, 1]] as const) {
        await evict(file);
        expect(Buffer.concat(await all(e.chunks(start, length))).equals(bytes.subarray(start, start + length))).toBe(true);
        expect(resident(file)).toBe(false);
      }
      expect(reads.length).toBeGreaterThanOrEqual(4);
      expect(reads.every((direct) => direct)).toBe(true);
      reads.length = 0;

      await evict(file);
      const later = Date.now() + RECACHE_MS + 1;
      vi.useFakeTimers({ toFake: ['Date'], now: later });
      try {
        expect(Buffer.concat(await all(e.chunks(0, bytes.length))).equals(bytes)).toBe(true);
        // through the page cache (whose readahead may have brought the later steps in already)
        expect(reads.length).toBeGreaterThanOrEqual(1);
        expect(reads.every((direct) => !direct)).toBe(true);
        expect(resident(file)).toBe(true);
        await evict(file);
        vi.setSystemTime(later + RECACHE_MS - 1000);
        reads.length = 0;
        expect(Buffer.concat(await all(e.chunks(0, bytes.length))).equals(bytes)).toBe(true);
      } finally {
        vi.useRealTimers();
      }
      expect(reads).toEqual([true, true, true]); // it left again within RECACHE_MS of that pass
    });

    it('a read that goes back through the page cache does so to its end, though its later steps left the cache meanwhile', async () => {
      const bytes = random(2 * CHUNK);
      const { file, facts } = written('recache.bin', bytes);
      const { tier, reads } = watched();
      const e = new ReadEntry('recache', facts, null, tier);
      await evict(file);
      vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + RECACHE_MS + 1 });
      try {
        const reading = e.chunks(0, bytes.length);
        const first = (await reading.next()).value!;
        const parts = [Buffer.from(first.bytes)];
        first.release();
        await evict(file); // the second step is not in the page cache, whatever readahead did
        for (let r = await reading.next(); !r.done; r = await reading.next()) parts.push(Buffer.from(r.value.bytes));
        expect(Buffer.concat(parts).equals(bytes)).toBe(true);
        expect(reads).toEqual([false, false]);
      } finally {
        vi.useRealTimers();
      }
    });

    it('of an object that its file goes on after (a cache file\'s trailer): the object\'s bytes only', async () => {
      const object = random(BLOCK + 100);
      const { file, facts } = written('trailer.bin', Buffer.concat([object, random(5000)]));
      const { blocks, crc32c } = blockTable(object.length, (o, n) => native.crc32c(object.subarray(o, o + n)));
      const { tier, reads } = watched();
      const e = new ReadEntry('trailer', { ...facts, size: object.length, blocks, crc32c }, null, tier, facts.size);
      await evict(file);
      expect(Buffer.concat(await all(e.chunks(0, object.length))).equals(object)).toBe(true);
      expect(reads).toEqual([true]);
    });

    it('a block that no longer matches cuts the read as it does through the page cache', async () => {
      const bytes = random(2 * BLOCK);
      const { file, facts } = written('direct-rot.bin', bytes);
      const { tier, reads } = watched();
      const e = new ReadEntry('direct-rot', { ...facts, blocks: Uint32Array.from(facts.blocks, (c, i) => (i === 1 ? c ^ 1 : c)) }, null, tier);
      await evict(file);
      await expect(all(e.chunks(0, bytes.length))).rejects.toBeInstanceOf(ChangedError);
      expect(reads).toEqual([true]);
    });

    it('the descriptor it opens for them is closed with the entry\'s own', async () => {
      const bytes = random(BLOCK);
      const { file, facts } = written('direct-fd.bin', bytes);
      const tier = new ReadTier<ReadEntry<null>>({}, 1);
      const e = new ReadEntry('direct-fd', facts, null, tier);
      tier.set(e);
      await evict(file);
      expect(Buffer.concat(await all(e.chunks(0, bytes.length))).equals(bytes)).toBe(true);
      expect(fdsOn(file)).toBe(2);
      tier.set(new ReadEntry('other3', written('other3.bin', random(BLOCK)).facts, null, tier)); // evicts e: retired
      await eventually(() => fdsOn(file) === 0, { what: 'both descriptors to close' });
    });
  });

  it('retired during a read that outlasts the grace: the descriptor stays until the read ends, then closes', async () => {
    const bytes = random(2 * CHUNK);
    const { file, facts } = written('long.bin', bytes);
    const tier = new ReadTier<ReadEntry<null>>({}, 1);
    const e = new ReadEntry('long', facts, null, tier);
    tier.set(e);
    const reading = e.chunks(0, bytes.length);
    const first = (await reading.next()).value!;
    tier.set(new ReadEntry('other2', written('other2.bin', random(BLOCK)).facts, null, tier)); // evicts e: retired
    // Past the grace: the retire timer (1010 ms, set first) has run by the time this one does.
    await new Promise((r) => setTimeout(r, 1100));
    expect(fdsOn(file)).toBe(1);
    const rest = await all(reading);
    expect(Buffer.concat([first.bytes, ...rest]).equals(bytes)).toBe(true);
    await eventually(() => fdsOn(file) === 0, { what: 'the descriptor to close when the read ends' });
  });
});
