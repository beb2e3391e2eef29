// The origin client on its own (src/store/origin/client.ts), against a real origin that
// misbehaves on demand: what is retried and how often, what the breaker makes of it, and which
// redirects are followed with which headers. The edge tests see the same through whole answers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { httpTarget, Origin, OriginError, type OriginOptions, type Target } from '../src/store/origin/client.js';
import { startFaultOrigin, type FaultOrigin } from './helpers/fault-origin.js';
import { random } from './helpers/content.js';
import { freePort } from './helpers/nginx.js'; // a port bound, then closed: nothing listens there
import { startSilentListener } from './helpers/silent-listener.js';

let origin: FaultOrigin;
let n = 0;
/** A fresh key of the fault origin; the client is asked for it without the leading slash (root-relative, as the edge asks). */
const unique = (): string => `/o/${++n}.ts`;

beforeAll(async () => {
  origin = await startFaultOrigin();
});
afterAll(() => origin.stop());

const QUICK: OriginOptions = {
  connections: 4,
  connectTimeoutMs: 1000,
  headersTimeoutMs: 1000,
  bodyTimeoutMs: 1000,
  retry: { retries: 2, baseMs: 1, capMs: 2 },
  breaker: { threshold: 100, openMs: 1000, maxOpenMs: 1000 },
};

/** An Origin on `url` with its events tallied. */
function client(o: Partial<OriginOptions> = {}, target: Target = httpTarget(new URL(origin.url))): { c: Origin; seen: string[]; firstByteS: number[] } {
  const seen: string[] = [];
  const firstByteS: number[] = [];
  const c = new Origin(target, { ...QUICK, ...o }, {
    response: (status, s) => {
      seen.push(`response ${status}`);
      firstByteS.push(s);
    },
    failure: (code) => seen.push(`failure ${code}`),
    retry: () => seen.push('retry'),
    shortCircuit: () => seen.push('short-circuit'),
  });
  return { c, seen, firstByteS };
}

describe('httpTarget', () => {
  it.each([
    ['http://h:1/', 'a b/c.ts', '?x=1', 'http://h:1/a%20b/c.ts?x=1', 'http://h:1/'],
    ['http://h:1/base', 'c.ts', '', 'http://h:1/base/c.ts', 'http://h:1/base/'],
    ['http://h:1/base/', 'd/#?.ts', '', 'http://h:1/base/d/%23%3F.ts', 'http://h:1/base/'],
  ])('%s with %s%s → %s', async (base, path, query, url, name) => {
    const t = httpTarget(new URL(base));
    const r = await t.resolve(path, query, { range: 'bytes=0-1' });
    expect(r.url.href).toBe(url);
    expect(r.headers).toEqual({ range: 'bytes=0-1' });
    expect(t.name).toBe(name);
    expect(t.followRedirects).toBe(true);
  });
});

describe('retries', () => {
  it('a 503 is retried `retries` times, then passed on as it is', async () => {
    const { c, seen } = client();
    const p = unique();
    origin.put(p, random(10), { status: 503 });
    const r = await c.get(p.slice(1), '', {});
    expect(r.status).toBe(503);
    expect(await r.body.text()).toBe('status 503\n');
    expect(origin.count(p)).toBe(3);
    expect(seen).toEqual(['response 503', 'retry', 'response 503', 'retry', 'response 503']);
    await c.close();
  });

  it('a 5xx that recovers is answered by the retry, and its times are stamped', async () => {
    const { c } = client();
    const p = unique();
    const body = random(1000);
    origin.put(p, body, { status: (k) => (k === 1 ? 502 : undefined) });
    const before = Date.now();
    const r = await c.get(p.slice(1), '', {});
    expect(r.status).toBe(200);
    expect(Buffer.from(await r.body.arrayBuffer()).equals(body)).toBe(true);
    expect(origin.count(p)).toBe(2);
    expect(r.url.href).toBe(new URL(p.slice(1), origin.url).href);
    expect(r.requestTime).toBeGreaterThanOrEqual(before);
    expect(r.responseTime).toBeGreaterThanOrEqual(r.requestTime);
    await c.close();
  });

  it.each([404, 501, 403])('a %i is an answer: never retried', async (status) => {
    const { c, seen } = client();
    const p = unique();
    origin.put(p, random(10), { status });
    expect((await c.get(p.slice(1), '', {})).status).toBe(status);
    expect(origin.count(p)).toBe(1);
    expect(seen).toEqual([`response ${status}`]);
    await c.close();
  });

  it('with no retries, the first 5xx is passed on', async () => {
    const { c } = client({ retry: { retries: 0, baseMs: 1, capMs: 1 } });
    const p = unique();
    origin.put(p, random(10), { status: 500 });
    expect((await c.get(p.slice(1), '', {})).status).toBe(500);
    expect(origin.count(p)).toBe(1);
    await c.close();
  });

  it('a refused connection is retried, then thrown with its code', async () => {
    const closed = await freePort();
    const { c, seen } = client({}, httpTarget(new URL(`http://127.0.0.1:${closed}/`)));
    await expect(c.get('x.ts', '', {})).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(seen).toEqual(['failure ECONNREFUSED', 'retry', 'failure ECONNREFUSED', 'retry', 'failure ECONNREFUSED']);
    await c.close();
  });

  it('a connection the origin never accepts fails at the connect timeout, each attempt, and each counts against the breaker', async () => {
    const silent = await startSilentListener();
    try {
      const { c, seen } = client({ connectTimeoutMs: 250 }, httpTarget(new URL(`http://127.0.0.1:${silent.port}/`)));
      const t0 = performance.now();
      await expect(c.get('x.ts', '', {})).rejects.toMatchObject({ code: 'UND_ERR_CONNECT_TIMEOUT' });
      const ms = performance.now() - t0;
      expect(seen).toEqual(['failure UND_ERR_CONNECT_TIMEOUT', 'retry', 'failure UND_ERR_CONNECT_TIMEOUT', 'retry', 'failure UND_ERR_CONNECT_TIMEOUT']);
      // Three waits of 250 ms, which undici's coarse connect timer stretches to about 1 s each;
      // without the option the first alone would be undici's own 10 s.
      expect(ms).toBeGreaterThanOrEqual(3 * 240);
      expect(ms).toBeLessThan(8000);
      await c.close();
    } finally {
      await silent.close();
    }
  });

  it('an error that is not worth another try is thrown at once', async () => {
    const target: Target = { name: 'bad', followRedirects: true, resolve: async () => ({ url: new URL('http://127.0.0.1:1/'), headers: { 'bad header': 'x' } }) };
    const { c, seen } = client({}, target);
    await expect(c.get('x.ts', '', {})).rejects.toMatchObject({ code: 'UND_ERR_INVALID_ARG' });
    expect(seen).toEqual(['failure UND_ERR_INVALID_ARG']);
    await c.close();
  });
});

describe('failures', () => {
  it('an error without a code (a target that cannot sign) is reported as EUNKNOWN and not retried', async () => {
    const target: Target = { name: 'unsigned', followRedirects: false, resolve: () => Promise.reject(new Error('no credentials')) };
    const { c, seen } = client({}, target);
    await expect(c.get('x.ts', '', {})).rejects.toThrow('no credentials');
    expect(seen).toEqual(['failure EUNKNOWN']);
    await c.close();
  });

  it('times the headers in seconds', async () => {
    const { c, firstByteS } = client();
    const p = unique();
    origin.put(p, random(10), { delayMs: 150 });
    await (await c.get(p.slice(1), '', {})).body.dump();
    expect(firstByteS).toHaveLength(1);
    expect(firstByteS[0]).toBeGreaterThanOrEqual(0.14);
    expect(firstByteS[0]).toBeLessThan(5);
    await c.close();
  });

  it('a body that goes silent is cut by the body-idle timeout', async () => {
    const { c } = client({ bodyTimeoutMs: 300 });
    const p = unique();
    origin.put(p, random(100_000), { stall: true });
    const r = await c.get(p.slice(1), '', {});
    const t0 = performance.now();
    await expect(r.body.arrayBuffer()).rejects.toMatchObject({ code: 'UND_ERR_BODY_TIMEOUT' });
    expect(performance.now() - t0).toBeLessThan(5000);
    await c.close();
  });

  it('the body of a 5xx it retries is read off, so the one connection is free for the retry', async () => {
    const { c } = client({ connections: 1, bodyTimeoutMs: 20_000 });
    const p = unique();
    origin.put(p, random(10), { status: 503, statusBodyBytes: 4 * 1024 * 1024 });
    const t0 = performance.now();
    const r = await c.get(p.slice(1), '', {});
    expect(r.status).toBe(503);
    expect((await r.body.arrayBuffer()).byteLength).toBe(4 * 1024 * 1024);
    expect(origin.count(p)).toBe(3);
    expect(performance.now() - t0).toBeLessThan(10_000); // not a body timeout per retry
    await c.close();
  });

  it('once closed, it makes no more requests', async () => {
    const { c } = client({ retry: { retries: 0, baseMs: 1, capMs: 1 } });
    const p = unique();
    origin.put(p, random(10));
    await c.close();
    await expect(c.get(p.slice(1), '', {})).rejects.toMatchObject({ code: 'UND_ERR_DESTROYED' });
    expect(origin.count(p)).toBe(0);
  });
});

describe('the breaker', () => {
  it('opens after `threshold` failures in a row (each retry counts), then refuses at once', async () => {
    const { c, seen } = client({ breaker: { threshold: 3, openMs: 60_000, maxOpenMs: 60_000 } });
    const p = unique();
    origin.put(p, random(10), { status: 503 });
    expect((await c.get(p.slice(1), '', {})).status).toBe(503); // three 503s: the third opens it
    expect(c.breaker.state).toBe('open');
    const t0 = performance.now();
    await expect(c.get(p.slice(1), '', {})).rejects.toMatchObject({ code: 'ESEGDORIGINDOWN', name: 'OriginError', message: `origin ${origin.url} is down (circuit open)` });
    expect(performance.now() - t0).toBeLessThan(100);
    expect(origin.count(p)).toBe(3);
    expect(seen.at(-1)).toBe('short-circuit');
    await c.close();
  });

  it('a 500 counts as a failure like any 5xx', async () => {
    const { c } = client({ retry: { retries: 0, baseMs: 1, capMs: 1 }, breaker: { threshold: 1, openMs: 60_000, maxOpenMs: 60_000 } });
    const p = unique();
    origin.put(p, random(10), { status: 500 });
    expect((await c.get(p.slice(1), '', {})).status).toBe(500);
    expect(c.breaker.state).toBe('open');
    await c.close();
  });

  it('a success in between keeps it closed', async () => {
    const { c } = client({ breaker: { threshold: 2, openMs: 60_000, maxOpenMs: 60_000 } });
    const p = unique();
    origin.put(p, random(10), { status: (k) => (k % 2 === 1 ? 503 : undefined) });
    for (let i = 0; i < 3; i++) expect((await c.get(p.slice(1), '', {})).status).toBe(200);
    expect(c.breaker.state).toBe('closed');
    await c.close();
  });

  it('a redirect it will not follow is an answer, not a failure', async () => {
    const { c } = client({ breaker: { threshold: 1, openMs: 60_000, maxOpenMs: 60_000 } });
    const p = unique();
    origin.put(p, random(10), { redirect: 'ftp://example.invalid/x' });
    for (let i = 0; i < 2; i++) await expect(c.get(p.slice(1), '', {})).rejects.toMatchObject({ code: 'ESEGDREDIRECT', message: 'redirect to ftp: refused' });
    expect(c.breaker.state).toBe('closed');
    await c.close();
  });
});

describe('redirects', () => {
  let hop: Server;
  let hopUrl: string;
  const hopHeaders: Record<string, string | string[] | undefined>[] = [];
  const hopMethods: (string | undefined)[] = [];
  beforeAll(async () => {
    // Another host: records what a redirect sends it, answers from the fault origin's bytes.
    hop = createServer((req, res) => {
      hopHeaders.push(req.headers);
      hopMethods.push(req.method);
      res.writeHead(200, { 'content-length': '2' }).end('ok');
    });
    await new Promise<void>((r) => hop.listen(0, '127.0.0.1', r));
    hopUrl = `http://127.0.0.1:${(hop.address() as AddressInfo).port}/elsewhere`;
  });
  afterAll(() => new Promise<void>((r) => hop.close(() => r())));

  it('are followed, and the next hop gets the caller’s headers, not what the target added', async () => {
    const signed: Target = { ...httpTarget(new URL(origin.url)), resolve: async (path, query, headers) => ({ url: new URL(path + query, origin.url), headers: { ...headers, authorization: 'signature' } }) };
    const { c } = client({}, signed);
    const p = unique();
    origin.put(p, random(10), { redirect: hopUrl });
    const r = await c.get(p.slice(1), '', { range: 'bytes=0-1' });
    expect(r.status).toBe(200);
    expect(await r.body.text()).toBe('ok');
    expect(r.url.href).toBe(hopUrl);
    expect(origin.log.filter((l) => l.path === p).map((l) => l.headers.authorization)).toEqual(['signature']);
    expect(hopHeaders.at(-1)).toMatchObject({ range: 'bytes=0-1' });
    expect(hopMethods.at(-1)).toBe('GET');
    expect(hopHeaders.at(-1)!.authorization).toBeUndefined();
    await c.close();
  });

  it('a loop ends after five hops with its own error', async () => {
    const { c } = client();
    const p = unique();
    origin.put(p, random(10), { redirect: p });
    await expect(c.get(p.slice(1), '', {})).rejects.toMatchObject({ code: 'ESEGDREDIRECTLOOP', message: expect.stringContaining('more than 5 redirects') });
    expect(origin.count(p)).toBe(6); // the first request and five redirects, no retry
    await c.close();
  });

  it('a target that may not be redirected (a signed one) gets the 3xx itself', async () => {
    const { c } = client({}, { ...httpTarget(new URL(origin.url)), followRedirects: false });
    const p = unique();
    origin.put(p, random(10), { redirect: hopUrl });
    const r = await c.get(p.slice(1), '', {});
    expect(r.status).toBe(302);
    expect(r.headers.location).toBe(hopUrl);
    await c.close();
  });

  it.each([200, 201, 400, 404, 500])('a %i with a Location header is an answer, not a redirect', async (status) => {
    const { c } = client({ retry: { retries: 0, baseMs: 1, capMs: 1 } });
    const p = unique();
    const body = random(10);
    origin.put(p, body, status === 200 ? { headers: { location: hopUrl } } : { status, headers: { location: hopUrl } });
    const r = await c.get(p.slice(1), '', {});
    expect(r.status).toBe(status);
    expect(r.url.href).not.toBe(hopUrl);
    await r.body.dump();
    await c.close();
  });

  it('a 300 with a Location is followed, and a 304 with one is an answer', async () => {
    const { c } = client();
    const p = unique();
    origin.put(p, random(10), { status: 300, headers: { location: hopUrl } });
    const r = await c.get(p.slice(1), '', {});
    expect(r.url.href).toBe(hopUrl);
    expect(await r.body.text()).toBe('ok');
    const q = unique();
    origin.put(q, random(10), { headers: { location: hopUrl } });
    const etag = (await c.get(q.slice(1), '', {})).headers.etag as string;
    const notModified = await c.get(q.slice(1), '', { 'if-none-match': etag });
    expect(notModified.status).toBe(304);
    expect(notModified.url.href).not.toBe(hopUrl);
    await c.close();
  });

  it('a redirect to https is followed (here to a port where nothing listens)', async () => {
    const { c } = client({ retry: { retries: 0, baseMs: 1, capMs: 1 } });
    const p = unique();
    origin.put(p, random(10), { redirect: `https://127.0.0.1:${await freePort()}/x` });
    await expect(c.get(p.slice(1), '', {})).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await c.close();
  });

  it('a 3xx without Location, and a 304, are answers', async () => {
    const { c } = client();
    const p = unique();
    origin.put(p, random(10), { status: 300 });
    expect((await c.get(p.slice(1), '', {})).status).toBe(300);
    const q = unique();
    origin.put(q, random(10));
    const etag = (await c.get(q.slice(1), '', {})).headers.etag as string;
    const r = await c.get(q.slice(1), '', { 'if-none-match': etag });
    expect(r.status).toBe(304);
    await c.close();
  });
});

it('OriginError carries its code and name', () => {
  const e = new OriginError('m', 'ESEGDREDIRECT');
  expect(e).toMatchObject({ message: 'm', code: 'ESEGDREDIRECT', name: 'OriginError' });
});
