// segd's own answers, besides content: the health and catalogue endpoints, the player page's
// mounts and the home redirect, and the error answers, each with its exact status, type, caching
// and body.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../src/server/listen.js';
import { indexTree } from '../src/catalogue/indexer.js';
import { get } from './helpers/http.js';
import { LOOP_RESOLUTION_MS, loopDelayMs } from '../src/observe/metrics.js';
import { tempTree, vodPlaylist, type TempTree } from './helpers/content.js';
import { eventually } from './helpers/wait.js';

let tree: TempTree;
let srv: RunningServer;
beforeAll(async () => {
  tree = tempTree();
  tree.write('show/master.m3u8', '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nlow.m3u8\n');
  tree.write('show/low.m3u8', vodPlaylist(['a.ts']));
  tree.write('show/a.ts', Buffer.alloc(188));
  srv = await startServer({ root: tree.dir, port: 0, threads: 1, player: true });
});
afterAll(async () => {
  await srv?.close(500);
  tree?.remove();
});

const TEXT = 'text/plain; charset=utf-8';

describe('endpoints', () => {
  it.each([
    ['/healthz', 'ok\n'],
    ['/readyz', 'ready\n'],
  ])('%s: 200, plain text, never cached, no body on HEAD', async (path, body) => {
    const r = await get(srv.url, path);
    expect([r.status, r.headers['content-type'], r.headers['cache-control'], r.body.toString()]).toEqual([200, TEXT, 'no-store', body]);
    const head = await get(srv.url, path, {}, 'HEAD');
    expect([head.status, head.headers['content-length'], head.body.length]).toEqual([200, String(body.length), 0]);
  });

  it('/metrics: the Prometheus text format', async () => {
    const r = await get(srv.url, '/metrics');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(r.body.toString()).toMatch(/^segd_requests_total/m);
  });

  it('/metrics: the event-loop figures are intervals of a 10 ms timer, which loopDelayMs takes off', async () => {
    await get(srv.url, '/metrics'); // (a read starts the figures anew)
    await new Promise((r) => setTimeout(r, 200));
    const text = (await get(srv.url, '/metrics')).body.toString();
    // The median interval, not the shortest: a timer that fired late makes the next interval short.
    const p50 = Number(/^nodejs_eventloop_lag_p50_seconds (\S+)$/m.exec(text)?.[1]);
    expect(p50).toBeGreaterThanOrEqual((LOOP_RESOLUTION_MS - 0.5) / 1000);
    expect(loopDelayMs(0.0123)).toBeCloseTo(2.3);
    expect(loopDelayMs(0.005)).toBe(0);
  });

  it('/api/catalogue without a manifest: a 404 that says what to run', async () => {
    const r = await get(srv.url, '/api/catalogue');
    expect([r.status, r.headers['content-type']]).toEqual([404, 'application/json']);
    expect(JSON.parse(r.body.toString())).toEqual({ error: 'no manifest: run segd index DIR' });
  });

  it('/api/streams: the top-level playlists, recomputed at most every 5 s', async () => {
    const list = async (): Promise<string[]> => {
      const r = await get(srv.url, '/api/streams');
      expect(r.headers['content-type']).toBe('application/json');
      return (JSON.parse(r.body.toString()) as { streams: { path: string }[] }).streams.map((s) => s.path);
    };
    expect(await list()).toEqual(['/show/master.m3u8']);
    tree.write('other/main.m3u8', vodPlaylist(['b.ts']));
    expect(await list()).toEqual(['/show/master.m3u8']); // still the list of a moment ago
    await eventually(async () => (await list()).length === 2, { timeoutMs: 15_000, everyMs: 500, what: 'the new stream listed' });
    expect(await list()).toEqual(['/other/main.m3u8', '/show/master.m3u8']);
  }, 30_000);
});

describe('the player page', () => {
  it('its files, from the page and from hls.js', async () => {
    const page = await get(srv.url, '/player/index.html');
    expect([page.status, page.headers['content-type']]).toEqual([200, 'text/html; charset=utf-8']);
    expect(page.body.equals(readFileSync(join(import.meta.dirname, '../web/index.html')))).toBe(true);
    expect((await get(srv.url, '/player/')).body.equals(page.body)).toBe(true);
    const lib = await get(srv.url, '/player/vendor/hls.min.js');
    expect(lib.status).toBe(200);
    expect(lib.headers['content-type']).toMatch(/javascript/);
  });

  it('a trailing slash on one of its files is 404; the home page redirects to it', async () => {
    expect((await get(srv.url, '/player/index.html/')).status).toBe(404);
    expect((await get(srv.url, '/player/vendor')).status).toBe(404); // a directory, not a page
    const home = await get(srv.url, '/');
    expect([home.status, home.headers.location, home.headers['content-length']]).toEqual([302, '/player/', '0']);
  });

  it('without it, the home page is a 404', async () => {
    const bare = await startServer({ root: tree.dir, port: 0, threads: 1, player: false });
    try {
      expect((await get(bare.url, '/')).status).toBe(404);
      expect((await get(bare.url, '/player/')).status).toBe(404);
    } finally {
      await bare.close(500);
    }
  });
});

describe('error answers', () => {
  it.each([
    ['a missing file', 'GET', '/show/none.ts', 404, 'Not Found', undefined],
    ['a method segd does not serve', 'POST', '/show/a.ts', 405, 'Method Not Allowed', 'GET, HEAD, OPTIONS'],
    ['a malformed target', 'GET', '/show/%zz.ts', 400, 'Bad Request', undefined],
    ['a target too long', 'GET', `/${'a'.repeat(9000)}.ts`, 414, 'URI Too Long', undefined],
  ])('%s: %s %s is a %i with a short text, never cached', async (_name, method, path, status, message, allow) => {
    const r = await get(srv.url, path, {}, method);
    expect([r.status, r.headers['content-type'], r.headers['cache-control'], r.body.toString()]).toEqual([status, TEXT, 'no-store', `${status} ${message}\n`]);
    expect(r.headers['access-control-allow-origin']).toBe('*'); // a player's script can read it
    expect(r.headers.allow).toBe(allow);
  });
});

describe('with a manifest', () => {
  it('/api/catalogue describes it', async () => {
    const t = tempTree();
    t.write('show/index.m3u8', vodPlaylist(['a.ts']));
    t.write('show/a.ts', Buffer.alloc(188));
    expect((await indexTree(t.dir, { threads: 1, progress: false })).ok).toBe(true);
    const s = await startServer({ root: t.dir, port: 0, threads: 1, player: false });
    try {
      const r = await get(s.url, '/api/catalogue');
      expect([r.status, r.headers['content-type']]).toEqual([200, 'application/json']);
      expect(JSON.parse(r.body.toString()).assets.map((a: { path: string }) => a.path)).toEqual(['show/index.m3u8']);
    } finally {
      await s.close(500);
      t.remove();
    }
  });
});
