/**
 * What the edge answers once an object is stale, or when the origin says it is not there
 * (RFC 9111, RFC 5861), against the fault-injecting origin: stale-while-revalidate, a 5xx, a 404
 * or a timeout on revalidation, the breaker open, negative caching, and each answer's
 * Cache-Status (RFC 9211). `max-age=0` makes an object stale from its second request on.
 */
import { describe, expect, it } from 'vitest';
import type { RunningServer } from '../src/server/listen.js';
import { faultEdge } from './helpers/fault-edge.js';
import { startSilentListener } from './helpers/silent-listener.js';
import { get, metric } from './helpers/http.js';
import { livePlaylist, random } from './helpers/content.js';
import { eventually } from './helpers/wait.js';

const { origin, edge, stored } = faultEdge();

let n = 0;
const unique = (ext = 'ts'): string => `/f${++n}/seg.${ext}`;

/** An object stored at the edge, stale from now on, with `cacheControl`'s extensions. */
async function staleObject(s: RunningServer, cacheControl = 'max-age=0'): Promise<{ path: string; body: Buffer }> {
  const path = unique();
  const body = random(5000);
  origin.put(path, body, { headers: { 'cache-control': cacheControl } });
  expect((await get(s.url, path)).headers['cache-status']).toBe('segd; fwd=miss; fwd-status=200; stored');
  await eventually(() => stored().length === 1);
  return { path, body };
}

describe('a stale object', () => {
  it('within stale-while-revalidate: answered at once as a hit, revalidated once in the background', async () => {
    const s = await edge();
    const { path, body } = await staleObject(s, 'max-age=0, stale-while-revalidate=60');
    const r = await get(s.url, path);
    expect(r.body.equals(body)).toBe(true);
    expect(r.headers['cache-status']).toMatch(/^segd; hit; ttl=-\d+; detail=stale-while-revalidate$/);
    await eventually(() => origin.count(path) === 2);
    expect(origin.log.filter((l) => l.path === path)[1]!.headers['if-none-match']).toMatch(/^"/);
    expect(await metric(s.url, 'segd_stale_served_total{reason="while-revalidate"}')).toBe(1);
  });

  it.each([500, 503])('a %i on revalidation: the stale copy is served, saying so', async (status) => {
    const s = await edge({ originOptions: { retry: { retries: 0, baseMs: 1, capMs: 1 } } });
    const { path, body } = await staleObject(s);
    origin.behave(path, { status });
    const r = await get(s.url, path);
    expect(r.status).toBe(200);
    expect(r.body.equals(body)).toBe(true);
    expect(r.headers['cache-status']).toMatch(new RegExp(`^segd; fwd=stale; fwd-status=${status}; ttl=-\\d+$`));
  });

  it('a 5xx on revalidation with stale-if-error off: the 5xx is passed on, and the copy kept', async () => {
    const s = await edge({ staleIfError: 0, originOptions: { retry: { retries: 0, baseMs: 1, capMs: 1 } } });
    const { path, body } = await staleObject(s);
    origin.behave(path, { status: 500 });
    const r = await get(s.url, path);
    expect(r.status).toBe(500);
    expect(r.headers['cache-status']).toBe('segd; fwd=stale; fwd-status=500');
    origin.put(path, body, { headers: { 'cache-control': 'max-age=0' } });
    expect((await get(s.url, path)).headers['cache-status']).toBe('segd; fwd=stale; fwd-status=304');
  });

  it.each([404, 410])('a %i on revalidation: passed on, and every copy dropped', async (status) => {
    const s = await edge({ negativeTtlMs: 0 });
    const { path } = await staleObject(s);
    origin.behave(path, { status });
    const r = await get(s.url, path);
    expect(r.status).toBe(status);
    expect(r.headers['cache-status']).toBe(`segd; fwd=stale; fwd-status=${status}`);
    await eventually(() => stored().length === 0);
    expect((await get(s.url, path)).headers['cache-status']).toBe(`segd; fwd=miss; fwd-status=${status}`); // not in memory either
  });

  it('a part instead of the whole on revalidation: the stale copy, with detail=origin-invalid', async () => {
    const s = await edge();
    const { path, body } = await staleObject(s);
    origin.behave(path, { status: 206, headers: { 'content-range': 'bytes 0-10/5000' } });
    const r = await get(s.url, path);
    expect(r.status).toBe(200);
    expect(r.body.equals(body)).toBe(true);
    expect(r.headers['cache-status']).toMatch(/^segd; fwd=stale; ttl=-\d+; detail=origin-invalid$/);
  });

  it('is revalidated with its query (a cache key with one)', async () => {
    const s = await edge();
    const path = unique();
    origin.put(path, random(100), { headers: { 'cache-control': 'max-age=0' } });
    await get(s.url, `${path}?lang=en`);
    await eventually(() => stored().length === 1);
    expect((await get(s.url, `${path}?lang=en`)).headers['cache-status']).toBe('segd; fwd=stale; fwd-status=304');
    expect(origin.log.filter((l) => l.path === path).map((l) => l.url)).toEqual([`${path}?lang=en`, `${path}?lang=en`]);
  });

  it('the origin keeps the revalidation waiting past the headers timeout: the stale copy', async () => {
    const s = await edge({ originOptions: { headersTimeoutMs: 300, retry: { retries: 0, baseMs: 1, capMs: 1 } } });
    const { path, body } = await staleObject(s);
    origin.behave(path, { delayMs: 2000 });
    const r = await get(s.url, path);
    expect(r.body.equals(body)).toBe(true);
    expect(r.headers['cache-status']).toMatch(/^segd; fwd=stale; ttl=-\d+; detail=origin-unreachable$/);
  });

  it('the same with stale-if-error off: a 504', async () => {
    const s = await edge({ staleIfError: 0, originOptions: { headersTimeoutMs: 300, retry: { retries: 0, baseMs: 1, capMs: 1 } } });
    const { path } = await staleObject(s);
    origin.behave(path, { delayMs: 2000 });
    const r = await get(s.url, path);
    expect(r.status).toBe(504);
    expect(r.headers['cache-status']).toBe('segd; fwd=stale; detail=origin-unreachable');
  });

  it('the breaker open: the stale copy at once, with detail=origin-down', async () => {
    const s = await edge({ originOptions: { headersTimeoutMs: 200, retry: { retries: 0, baseMs: 1, capMs: 1 }, breaker: { threshold: 1, openMs: 60_000, maxOpenMs: 60_000 } } });
    const { path, body } = await staleObject(s);
    const slow = unique();
    origin.put(slow, random(10), { delayMs: 1000 });
    expect((await get(s.url, slow)).status).toBe(504); // one failure opens it
    const r = await get(s.url, path);
    expect(r.body.equals(body)).toBe(true);
    expect(r.headers['cache-status']).toMatch(/^segd; fwd=stale; ttl=-\d+; detail=origin-down$/);
    expect(origin.count(path)).toBe(1);
  });
});

describe('an object without a stated lifetime', () => {
  it('a live playlist is fresh for its live lifetime, however old its Last-Modified (no heuristic)', async () => {
    const s = await edge();
    const path = unique('m3u8');
    // No Cache-Control, a Last-Modified an hour old: a tenth of that would be six minutes.
    origin.put(path, Buffer.from(livePlaylist(['a.ts', 'b.ts'], 2)), { headers: { 'content-type': 'application/vnd.apple.mpegurl' } });
    await get(s.url, path);
    await eventually(() => stored().length === 1);
    await new Promise((r) => setTimeout(r, 1100)); // past half its target duration
    expect((await get(s.url, path)).headers['cache-status']).toBe('segd; fwd=stale; fwd-status=304');
  });

});

describe('an origin that does not answer in time', () => {
  it('a miss whose headers do not come: 504', async () => {
    const s = await edge({ originOptions: { headersTimeoutMs: 300, retry: { retries: 0, baseMs: 1, capMs: 1 } } });
    const path = unique();
    origin.put(path, random(10), { delayMs: 2000 });
    const r = await get(s.url, path);
    expect(r.status).toBe(504);
    expect(r.headers['cache-status']).toBe('segd; fwd=miss; detail=origin-unreachable');
  });

  it('misses whose connection is never accepted: 504 each, the four sharing one request', async () => {
    const silent = await startSilentListener();
    try {
      const s = await edge({ originOptions: { connectTimeoutMs: 250, retry: { retries: 0, baseMs: 1, capMs: 1 } } }, `http://127.0.0.1:${silent.port}`);
      // Four at once share the one request (it hangs until its timeout).
      const answers = await Promise.all(Array.from({ length: 4 }, () => get(s.url, '/x.ts')));
      expect(answers.map((r) => r.status)).toEqual([504, 504, 504, 504]);
      expect(answers.map((r) => r.headers['cache-status']).sort()).toEqual([
        'segd; fwd=miss; collapsed; detail=origin-unreachable',
        'segd; fwd=miss; collapsed; detail=origin-unreachable',
        'segd; fwd=miss; collapsed; detail=origin-unreachable',
        'segd; fwd=miss; detail=origin-unreachable',
      ]);
    } finally {
      await silent.close();
    }
  });

  it('a miss refused at connect (nothing listens): 502', async () => {
    const s = await edge({ originOptions: { retry: { retries: 0, baseMs: 1, capMs: 1 } } }, 'http://127.0.0.1:1');
    const r = await get(s.url, '/x.ts');
    expect(r.status).toBe(502);
    expect(r.headers['cache-status']).toBe('segd; fwd=miss; detail=origin-unreachable');
  });
});

describe('negative caching', () => {
  it.each([404, 410])('a %i is remembered and answered as a hit', async (status) => {
    const s = await edge();
    const path = unique();
    origin.put(path, random(10), { status });
    expect((await get(s.url, path)).headers['cache-status']).toBe(`segd; fwd=miss; fwd-status=${status}`);
    const r = await get(s.url, path);
    expect(r.status).toBe(status);
    expect(r.headers['cache-status']).toBe('segd; hit');
    expect(origin.count(path)).toBe(1);
  });

  it.each([
    ['a 404 the origin marks no-store', 404, 'no-store'],
    ['a 403', 403, undefined],
  ])('%s is asked again each time', async (_name, status, cacheControl) => {
    const s = await edge();
    const path = unique();
    origin.put(path, random(10), { status, ...(cacheControl === undefined ? {} : { headers: { 'cache-control': cacheControl } }) });
    for (let i = 1; i <= 2; i++) {
      const r = await get(s.url, path);
      expect(r.status).toBe(status);
      expect(r.headers['cache-status']).toBe(`segd; fwd=miss; fwd-status=${status}`);
    }
    expect(origin.count(path)).toBe(2);
  });

  it('negativeTtlMs 0 turns it off', async () => {
    const s = await edge({ negativeTtlMs: 0 });
    const path = unique();
    origin.put(path, random(10), { status: 404 });
    await get(s.url, path);
    await get(s.url, path);
    expect(origin.count(path)).toBe(2);
  });
});
