/**
 * Bytes that change behind the page cache under an object of the memory tier: bit rot on the
 * disk, read back when the kernel has dropped the object's pages and they are read again. The
 * memory tier checks an object once, when it is loaded; what it sends later comes from the
 * page cache. So pages read back are checked too (memory.ts, ensureResident).
 *
 * A direct write (dd oflag=direct) stands for the rot: it changes the bytes on the disk and drops
 * the cached page, so the mapping sees the new bytes once the page is read back, and the file's
 * stat says nothing changed (its mtime is put back to the nanosecond).
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startServer } from './helpers/transport.js';
import { native } from '../src/native/index.js';
import { contentEtag } from '../src/http/etag.js';
import { attempt, get, metric } from './helpers/http.js';
import { random, tempTree } from './helpers/content.js';
import { noDirectIo, skipping } from './helpers/native.js';
import { faultEdge } from './helpers/fault-edge.js';
import { capturedDiagnostics } from './helpers/diagnostics.js';
import { eventually } from './helpers/wait.js';

const PAGE = 4096;

/** Writes one page of other bytes at page `index` of `file` past the page cache, keeping its stat. */
function rot(file: string, index: number): void {
  const mtime = execFileSync('stat', ['-c', '%y', file], { encoding: 'utf8' }).trim();
  execFileSync('dd', ['if=/dev/urandom', `of=${file}`, `bs=${PAGE}`, `seek=${index}`, 'count=1', 'conv=notrunc', 'oflag=direct', 'status=none']);
  execFileSync('touch', ['-m', '-d', mtime, file]);
}

/** Why direct writes cannot stand for the rot here, or undefined. */
const why = native.kind === 'fallback' ? 'the TypeScript fallback serves copies, not mappings' : noDirectIo();
const fe = faultEdge();

describe.skipIf(skipping('bit rot under an object of the memory tier', why))('bit rot under an object of the memory tier', () => {
  it('a folder: never sent under the old ETag; the answer is cut, and the next one has the new bytes under their own ETag', async () => {
    const t = tempTree();
    const bytes = t.write('rot.m4s', random(1 << 20));
    const file = join(t.dir, 'rot.m4s');
    const captured = capturedDiagnostics();
    const srv = await startServer({ root: t.dir, host: '127.0.0.1', port: 0, threads: 1, validityMs: 60_000, player: false, diagnostics: captured.diag });
    try {
      const first = await get(srv.url, '/rot.m4s');
      expect(first.body.equals(bytes)).toBe(true);
      const etag = first.headers.etag!;
      expect(etag).toBe(contentEtag(native.crc32c(bytes), bytes.length));
      const hits = await metric(srv.url, 'segd_cache_hits_total{tier="memory"}');
      expect((await get(srv.url, '/rot.m4s')).body.equals(bytes)).toBe(true);
      expect(await metric(srv.url, 'segd_cache_hits_total{tier="memory"}')).toBe(hits + 1); // mapped, in memory

      const mtimeMs = statSync(file).mtimeMs;
      rot(file, 100);
      expect(statSync(file).mtimeMs).toBe(mtimeMs);
      const cut = await attempt(srv.url, '/rot.m4s');
      expect(cut.cut).toBeDefined();
      expect(cut.status === 200 && cut.body.length === bytes.length).toBe(false);
      expect(await metric(srv.url, 'segd_read_tier_mismatches_total')).toBe(1);

      const now = readFileSync(file);
      expect(now.equals(bytes)).toBe(false);
      const again = await get(srv.url, '/rot.m4s');
      expect(again.status).toBe(200);
      expect(again.body.equals(now)).toBe(true);
      expect(again.headers.etag).toBe(contentEtag(native.crc32c(now), now.length));
      // Said as what it is (bytes that changed), not as a truncation.
      expect(captured.lines.map((l) => l.msg)).toEqual([expect.stringMatching(/^file changed while read/)]);
    } finally {
      await srv.close(1000);
      t.remove();
    }
  });

  it('an edge: the answer is cut, the object dropped from memory and disk, and fetched again', async () => {
    const body = random(1 << 20);
    fe.origin.put('/rot/seg.m4s', body);
    const srv = await fe.edge();
    expect((await get(srv.url, '/rot/seg.m4s')).body.equals(body)).toBe(true); // the fill
    const hit = await get(srv.url, '/rot/seg.m4s');
    expect(hit.body.equals(body)).toBe(true);
    expect(hit.headers['cache-status']).toBe('segd; hit');
    expect((await get(srv.url, '/rot/seg.m4s')).body.equals(body)).toBe(true); // from the memory tier's mapping
    const [name] = fe.stored();
    rot(join(fe.cacheDir, 'data', name!.slice(0, 2), name!), 100);

    const cut = await attempt(srv.url, '/rot/seg.m4s');
    expect(cut.cut).toBeDefined();
    expect(cut.status === 200 && cut.body.length === body.length).toBe(false);
    expect(await metric(srv.url, 'segd_disk_corrupt_total')).toBe(1);
    // The drop is an unlink after the count (compose/edge.ts): waited for, not raced.
    await eventually(() => fe.stored().length === 0, { what: 'the rotten cache file dropped' });

    const fetched = fe.origin.count('/rot/seg.m4s');
    const again = await get(srv.url, '/rot/seg.m4s');
    expect(again.status).toBe(200);
    expect(again.body.equals(body)).toBe(true);
    expect(again.headers['cache-status']).toMatch(/fwd=miss/);
    expect(fe.origin.count('/rot/seg.m4s')).toBe(fetched + 1);
    expect(fe.lines.some((l) => l.msg === 'disk cache object failed its check while read, dropped and fetched again' && l.reason === 'checksum mismatch in pages read back')).toBe(true);
  });

  it('an edge whose objects are read from their cache files (the read tier): each rotten one is cut, said, dropped and fetched again', async () => {
    const bodies = [random(3 << 20), random(3 << 20)];
    bodies.forEach((b, i) => fe.origin.put(`/rot/big${i}.m4s`, b));
    const srv = await fe.edge({ cacheSize: '1MiB' }); // smaller than an object: read from its file
    for (const [i, b] of bodies.entries()) {
      expect((await get(srv.url, `/rot/big${i}.m4s`)).body.equals(b)).toBe(true); // the fill
      expect((await get(srv.url, `/rot/big${i}.m4s`)).body.equals(b)).toBe(true); // from the file
    }
    expect(await metric(srv.url, 'segd_cache_hits_total{tier="memory"}')).toBe(0);
    for (const name of fe.stored()) rot(join(fe.cacheDir, 'data', name.slice(0, 2), name), 300);
    for (const [i, b] of bodies.entries()) {
      const cut = await attempt(srv.url, `/rot/big${i}.m4s`);
      expect(cut.cut).toBeDefined();
      expect(cut.body.equals(b.subarray(0, cut.body.length))).toBe(true); // what arrived is the object's own prefix
      expect((await get(srv.url, `/rot/big${i}.m4s`)).body.equals(b)).toBe(true); // fetched again
    }
    expect(await metric(srv.url, 'segd_disk_corrupt_total')).toBe(2);
    // One line per object (each its own), with what failed.
    const said = fe.lines.filter((l) => l.msg === 'disk cache object failed its check while read, dropped and fetched again');
    expect(said.map((l) => l.reason)).toEqual(['block checksum mismatch', 'block checksum mismatch']);
    expect(new Set(said.map((l) => l.file)).size).toBe(2);
  });
});
