/**
 * segd as an edge in front of a real nginx origin: misses, hits from memory and from disk after a
 * restart, freshness and revalidation (RFC 9111), stale-if-error through an outage, negative
 * caching, the cache key, bit rot on the cache disk, and `segd verify --cache-dir`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSync, mkdtempSync, openSync, readdirSync, readSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunningServer, ServerOptions } from '../src/server/listen.js';
import { startServer } from './helpers/transport.js';
import { NGINX, startNginx, type Nginx } from './helpers/nginx.js';
import { get } from './helpers/http.js';
import { cli } from './helpers/cli.js';
import { livePlaylist, random, tempTree, vodPlaylist, type TempTree } from './helpers/content.js';
import { eventually } from './helpers/wait.js';

const describeNginx = NGINX === undefined && !process.env.CI ? describe.skip : describe;

let tree: TempTree;
let nginx: Nginx;
const files: Record<string, Buffer> = {};
const LIVE = 'location /live/ { add_header Cache-Control "max-age=1"; }\n    location /gone/ { return 410; }';

beforeAll(async () => {
  if (NGINX === undefined) return;
  tree = tempTree();
  files.seg0 = tree.write('vod/seg0.ts', random(300_000));
  files.seg1 = tree.write('vod/seg1.ts', random(40_000));
  files.vod = tree.write('vod/main.m3u8', vodPlaylist(['seg0.ts', 'seg1.ts']));
  files.live = tree.write('live/main.m3u8', livePlaylist(['a.ts', 'b.ts']));
  nginx = await startNginx(tree.dir, LIVE);
});
afterAll(async () => {
  await nginx?.remove();
  tree?.remove();
});

async function edge(cacheDir: string, extra: Partial<ServerOptions> = {}): Promise<RunningServer> {
  return startServer({ origin: nginx.url, cacheDir, port: 0, threads: 1, player: false, ...extra });
}

const newCacheDir = (): string => mkdtempSync(join(tmpdir(), 'segd-edge-'));

describeNginx('an edge in front of nginx', () => {
  let cacheDir: string;
  let srv: RunningServer;
  beforeAll(async () => {
    if (NGINX === undefined) return;
    cacheDir = newCacheDir();
    srv = await edge(cacheDir);
  });
  afterAll(async () => {
    await srv?.close(500);
    rmSync(cacheDir, { recursive: true, force: true });
  });

  it('a miss is fetched once and stored; then it is a hit with the same bytes and headers', async () => {
    const before = nginx.requests('/vod/seg0.ts');
    const miss = await get(srv.url, '/vod/seg0.ts');
    expect(miss.status).toBe(200);
    expect(miss.body.equals(files.seg0!)).toBe(true);
    expect(miss.headers['cache-status']).toBe('segd; fwd=miss; fwd-status=200; stored');
    expect(miss.headers['content-type']).toBe('video/mp2t'); // nginx's, passed on
    const hit = await get(srv.url, '/vod/seg0.ts');
    expect(hit.body.equals(files.seg0!)).toBe(true);
    expect(hit.headers['cache-status']).toBe('segd; hit');
    expect(hit.headers['cache-control']).toBe('public, max-age=31536000, immutable'); // nginx sent none: a segment is immutable
    expect(hit.headers.etag).toMatch(/^"[0-9a-f]{8}-493e0"$/); // content-derived, not nginx's
    expect(hit.headers['last-modified']).toBe(miss.headers['last-modified']);
    expect(hit.headers.age).toMatch(/^\d+$/);
    expect(await nginx.requestsReaching(before + 1, '/vod/seg0.ts')).toBe(before + 1);
  });

  it('ranges, conditionals and compression work on edge objects as on local files', async () => {
    await get(srv.url, '/vod/seg0.ts');
    const r = await get(srv.url, '/vod/seg0.ts', { range: 'bytes=1000-1999' });
    expect(r.status).toBe(206);
    expect(r.body.equals(files.seg0!.subarray(1000, 2000))).toBe(true);
    const etag = r.headers.etag!;
    expect((await get(srv.url, '/vod/seg0.ts', { 'if-none-match': etag })).status).toBe(304);
    const pl = await get(srv.url, '/vod/main.m3u8', { 'accept-encoding': 'br' });
    expect(pl.headers['content-encoding']).toBe('br');
    expect(pl.headers.vary).toBe('Accept-Encoding');
    expect(pl.headers['cache-control']).toBe('public, max-age=86400'); // a VOD playlist, by segd's policy
  });

  it('CMCD and token parameters stay out of the key; content-selecting ones do not', async () => {
    const before = nginx.requests();
    for (const q of ['?CMCD=sid%3D%22a%22', '?token=abc', '?CMCD=sid%3D%22b%22&token=x']) {
      const r = await get(srv.url, `/vod/seg1.ts${q}`);
      expect(r.body.equals(files.seg1!)).toBe(true);
    }
    expect(await nginx.requestsReaching(before + 1)).toBe(before + 1);
    await get(srv.url, '/vod/seg1.ts?lang=en');
    await get(srv.url, '/vod/seg1.ts?lang=en&token=y');
    expect(await nginx.requestsReaching(before + 2)).toBe(before + 2);
    expect(nginx.requests('/vod/seg1.ts?lang=en')).toBe(1); // the origin never sees the token
  });

  it('a 404 is remembered briefly: a flood of requests for a missing object costs one origin request', async () => {
    const before = nginx.requests('/vod/missing.ts');
    for (let i = 0; i < 20; i++) expect((await get(srv.url, '/vod/missing.ts')).status).toBe(404);
    expect(await nginx.requestsReaching(before + 1, '/vod/missing.ts')).toBe(before + 1);
    const gone = await get(srv.url, '/gone/x.ts');
    expect(gone.status).toBe(410);
  });

  it('a stale playlist is revalidated with a conditional request', async () => {
    const first = await get(srv.url, '/live/main.m3u8');
    expect(first.body.equals(files.live!)).toBe(true);
    await new Promise((r) => setTimeout(r, 1100)); // past max-age=1
    const before = nginx.requests('/live/main.m3u8');
    const r = await get(srv.url, '/live/main.m3u8');
    expect(r.body.equals(files.live!)).toBe(true);
    expect(r.headers['cache-status']).toBe('segd; fwd=stale; fwd-status=304');
    expect(await nginx.requestsReaching(before + 1, '/live/main.m3u8')).toBe(before + 1);
  });

  it('a playlist that changed at the origin is fetched anew once stale', async () => {
    await get(srv.url, '/live/main.m3u8');
    const next = Buffer.from(livePlaylist(['b.ts', 'c.ts']));
    writeFileSync(join(tree.dir, 'live/next.m3u8'), next);
    renameSync(join(tree.dir, 'live/next.m3u8'), join(tree.dir, 'live/main.m3u8'));
    await eventually(async () => (await get(srv.url, '/live/main.m3u8')).body.equals(next), { what: 'the new playlist', timeoutMs: 5000 });
    files.live = next;
  });
});

describeNginx('the origin goes away', () => {
  it('cached objects keep being served (stale-if-error), also after a restart; uncached ones are 502', async () => {
    const cacheDir = newCacheDir();
    let srv = await edge(cacheDir);
    try {
      for (const p of ['/vod/main.m3u8', '/vod/seg0.ts', '/vod/seg1.ts', '/live/main.m3u8']) expect((await get(srv.url, p)).status).toBe(200);
      await nginx.stop();
      await new Promise((r) => setTimeout(r, 1100)); // the live playlist is stale now
      const live = await get(srv.url, '/live/main.m3u8');
      expect(live.status).toBe(200);
      expect(live.headers['cache-status']).toMatch(/^segd; fwd=stale; ttl=-\d+; detail=origin-unreachable$/);
      expect((await get(srv.url, '/vod/seg0.ts')).body.equals(files.seg0!)).toBe(true);
      expect((await get(srv.url, '/vod/other.ts')).status).toBe(502);
      await srv.close(500);
      srv = await edge(cacheDir); // a restart with the origin still down
      for (const [p, body] of [['/vod/main.m3u8', files.vod], ['/vod/seg0.ts', files.seg0], ['/vod/seg1.ts', files.seg1]] as const) {
        const r = await get(srv.url, p);
        expect(r.status).toBe(200);
        expect(r.body.equals(body!)).toBe(true);
      }
      expect((await get(srv.url, '/live/main.m3u8')).status).toBe(200);
    } finally {
      await srv.close(500);
      await nginx.start();
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });

  it('past stale-if-error, a stale object is not served', async () => {
    const cacheDir = newCacheDir();
    const srv = await edge(cacheDir, { staleIfError: 0 });
    try {
      expect((await get(srv.url, '/live/main.m3u8')).status).toBe(200);
      await nginx.stop();
      await new Promise((r) => setTimeout(r, 1100));
      const r = await get(srv.url, '/live/main.m3u8');
      expect(r.status).toBe(502);
    } finally {
      await srv.close(500);
      await nginx.start();
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });
});

describeNginx('the cache disk', () => {
  it('an object whose bytes rotted on disk is dropped and fetched again, and segd verify --cache-dir finds it', async () => {
    const cacheDir = newCacheDir();
    let srv = await edge(cacheDir);
    try {
      await get(srv.url, '/vod/seg0.ts');
      await srv.close(500);
      const [sub] = readdirSync(join(cacheDir, 'data')).filter((d) => readdirSync(join(cacheDir, 'data', d)).length > 0);
      const file = join(cacheDir, 'data', sub!, readdirSync(join(cacheDir, 'data', sub!))[0]!);
      const fd = openSync(file, 'r+');
      const b = Buffer.alloc(1);
      readSync(fd, b, 0, 1, 1234);
      writeSync(fd, Buffer.from([b[0]! ^ 1]), 0, 1, 1234);
      closeSync(fd);

      const verify = cli(['verify', '--cache-dir', cacheDir]);
      expect(await verify.exited).toBe(1);
      expect(verify.output()).toMatch(/vod\/seg0\.ts.*CRC32C/);

      srv = await edge(cacheDir);
      const before = nginx.requests('/vod/seg0.ts');
      const r = await get(srv.url, '/vod/seg0.ts');
      expect(r.status).toBe(200);
      expect(r.body.equals(files.seg0!)).toBe(true);
      expect(await nginx.requestsReaching(before + 1, '/vod/seg0.ts')).toBe(before + 1);
      const m = (await get(srv.url, '/metrics')).body.toString();
      expect(m).toMatch(/^segd_disk_corrupt_total 1$/m);
      await eventually(async () => (await cli(['verify', '--cache-dir', cacheDir]).exited) === 0, { what: 'a clean cache' });
    } finally {
      await srv.close(500);
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });
});
