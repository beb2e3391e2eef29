/**
 * segd serve with a manifest from segd index: checksums verified as files enter the cache,
 * mismatches refused with 503, ETag and Repr-Digest from the manifest, the catalogue endpoint.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync, statSync, utimesSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { indexTree } from '../src/catalogue/index.js';
import { native } from '../src/native/index.js';
import { crcHex } from '../src/http/etag.js';
import type { RunningServer } from '../src/server/listen.js';
import { startServer } from './helpers/transport.js';
import { get } from './helpers/http.js';
import { capturedDiagnostics } from './helpers/diagnostics.js';
import { eventually } from './helpers/wait.js';
import { random, tempTree, vodPlaylist, type TempTree } from './helpers/content.js';

let tree: TempTree | undefined;
let srv: RunningServer | undefined;
afterEach(async () => {
  await srv?.close(1000);
  tree?.remove();
  srv = tree = undefined;
});

/** Flip one byte in place and put the mtime back: bit rot, invisible to stat. */
function rot(file: string, at: number): void {
  const st = statSync(file);
  const fd = openSync(file, 'r+');
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, at);
  b[0] = b[0]! ^ 0x40;
  writeSync(fd, b, 0, 1, at);
  closeSync(fd);
  utimesSync(file, st.atime, st.mtime);
}

async function library(): Promise<{ seg: Buffer; small: Buffer }> {
  tree = tempTree();
  const seg = tree.write('v/seg0.ts', random(200_000));
  const small = tree.write('v/seg1.ts', random(3000));
  tree.write('v/main.m3u8', vodPlaylist(['seg0.ts', 'seg1.ts']));
  // backdate so that the index does not treat the files as racy
  for (const f of ['v/seg0.ts', 'v/seg1.ts', 'v/main.m3u8']) utimesSync(join(tree.dir, f), new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
  const r = await indexTree(tree.dir, { threads: 1, progress: false });
  expect(r.ok).toBe(true);
  return { seg, small };
}

describe('serving with a manifest', () => {
  it('sends Repr-Digest from the manifest and the catalogue', async () => {
    const { seg } = await library();
    srv = await startServer({ root: tree!.dir, host: '127.0.0.1', port: 0, threads: 1, player: true });
    const r = await get(srv.url, '/v/seg0.ts');
    expect(r.status).toBe(200);
    expect(r.headers['repr-digest']).toBe(`sha-256=:${createHash('sha256').update(seg).digest('base64')}:`);
    const c = await get(srv.url, '/api/catalogue');
    expect(c.status).toBe(200);
    const body = JSON.parse(c.body.toString()) as { assets: { path: string; status: string; segments: number; duration: number }[] };
    expect(body.assets).toEqual(expect.arrayContaining([expect.objectContaining({ path: 'v/main.m3u8', status: 'ok', segments: 2, duration: 4 })]));
    const s = JSON.parse((await get(srv.url, '/api/streams')).body.toString()) as { streams: { path: string; catalogue?: { duration: number } }[] };
    expect(s.streams).toEqual([expect.objectContaining({ path: '/v/main.m3u8', catalogue: expect.objectContaining({ duration: 4 }) })]);
  });

  it.each([
    ['a mapped segment', 'v/seg0.ts', 150_000],
    ['a copied small file', 'v/seg1.ts', 10],
  ])('refuses %s whose bytes rotted with 503, counts and logs it', async (_what, rel, at) => {
    await library();
    rot(join(tree!.dir, rel), at);
    const { diag, lines } = capturedDiagnostics();
    srv = await startServer({ root: tree!.dir, host: '127.0.0.1', port: 0, threads: 1, player: false, diagnostics: diag });
    const r = await get(srv.url, `/${rel}`);
    expect(r.status).toBe(503);
    expect((await get(srv.url, `/${rel}`, { range: 'bytes=0-9' })).status).toBe(503);
    const m = (await get(srv.url, '/metrics')).body.toString();
    expect(Number(/^segd_integrity_failures_total (\d+)/m.exec(m)?.[1])).toBeGreaterThanOrEqual(1);
    expect(m).toMatch(/^segd_requests_total\{status="503",kind="segment"\} 2/m);
    expect(lines).toEqual([expect.objectContaining({ level: 50, msg: 'integrity check failed, file refused until it changes', file: join(tree!.dir, rel) })]);
  });

  it('applies a manifest written after objects were cached: Repr-Digest appears, a contradicted object is reloaded', async () => {
    tree = tempTree();
    const seg = tree.write('v/seg0.ts', random(200_000));
    tree.write('v/seg1.ts', random(3000)); // small: cached as a copy, so the cache holds the old bytes
    for (const f of ['v/seg0.ts', 'v/seg1.ts']) utimesSync(join(tree.dir, f), new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    srv = await startServer({ root: tree.dir, host: '127.0.0.1', port: 0, threads: 1, player: false, validityMs: 600_000 });
    const before = await get(srv.url, '/v/seg0.ts');
    expect(before.headers['repr-digest']).toBeUndefined();
    expect((await get(srv.url, '/v/seg1.ts')).status).toBe(200);
    // Changed in place behind the cache's back (same size and mtime), then indexed: the cached
    // bytes contradict the manifest, which describes the bytes on disk.
    rot(join(tree.dir, 'v/seg1.ts'), 100);
    expect((await get(srv.url, '/v/seg1.ts')).body.equals(readFileSync(join(tree.dir, 'v/seg1.ts')))).toBe(false);
    expect((await indexTree(tree.dir, { threads: 1, progress: false })).ok).toBe(true);
    const digest = `sha-256=:${createHash('sha256').update(seg).digest('base64')}:`;
    await eventually(async () => (await get(srv!.url, '/v/seg0.ts')).headers['repr-digest'] === digest, { what: 'Repr-Digest on the cached object' });
    const now = readFileSync(join(tree.dir, 'v/seg1.ts'));
    const r = await get(srv.url, '/v/seg1.ts');
    expect(r.body.equals(now)).toBe(true);
    expect(r.headers.etag).toBe(`"${crcHex(native.crc32c(now))}-${now.length.toString(16)}"`);
    expect(r.headers['repr-digest']).toBe(`sha-256=:${createHash('sha256').update(now).digest('base64')}:`);
  });

  it('serves a file again once it changes (a new mtime is no longer the manifest\'s promise)', async () => {
    const { seg } = await library();
    const file = join(tree!.dir, 'v/seg0.ts');
    rot(file, 5);
    srv = await startServer({ root: tree!.dir, host: '127.0.0.1', port: 0, threads: 1, player: false, validityMs: 100 });
    expect((await get(srv.url, '/v/seg0.ts')).status).toBe(503);
    tree!.write('v/seg0.ts', seg); // restored by a fresh copy: new mtime
    await new Promise((r) => setTimeout(r, 200));
    const r = await get(srv.url, '/v/seg0.ts');
    expect(r.status).toBe(200);
    expect(r.body.equals(seg)).toBe(true);
    expect(r.headers['repr-digest']).toBeUndefined(); // the manifest no longer describes this file
  });

  it('a refusal ends when a new manifest describes the bytes on disk', async () => {
    await library();
    rot(join(tree!.dir, 'v/seg0.ts'), 5);
    srv = await startServer({ root: tree!.dir, host: '127.0.0.1', port: 0, threads: 1, player: false, validityMs: 600_000 });
    expect((await get(srv.url, '/v/seg0.ts')).status).toBe(503);
    // the operator accepts the bytes on disk as they are now: a fresh index (no reuse of hashes)
    expect((await indexTree(tree!.dir, { threads: 1, progress: false, racyWindowMs: Infinity })).ok).toBe(true);
    await eventually(async () => (await get(srv!.url, '/v/seg0.ts')).status === 200, { what: 'the refusal lifted' });
  });

  it('with verification off, trusts the manifest and hashes nothing', async () => {
    await library();
    rot(join(tree!.dir, 'v/seg0.ts'), 7);
    srv = await startServer({ root: tree!.dir, host: '127.0.0.1', port: 0, threads: 1, player: false, verify: false });
    const r = await get(srv.url, '/v/seg0.ts');
    expect(r.status).toBe(200); // what --no-verify means: the manifest's word is taken
    const manifest = JSON.parse(readFileSync(join(tree!.dir, '.segd/manifest.json'), 'utf8')) as { entries: Record<string, { crc32c: string; size: number }> };
    const e = manifest.entries['v/seg0.ts']!;
    expect(r.headers['etag']).toBe(`"${e.crc32c}-${e.size.toString(16)}"`);
  });

  it('never serves the manifest itself', async () => {
    await library();
    srv = await startServer({ root: tree!.dir, host: '127.0.0.1', port: 0, threads: 1, player: false });
    expect((await get(srv.url, '/.segd/manifest.json')).status).toBe(404);
    expect((await get(srv.url, '/%2esegd/manifest.json')).status).toBe(404);
  });
});
