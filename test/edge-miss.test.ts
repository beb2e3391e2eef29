/**
 * A miss answers as the hit after it will: the same status, head and bytes for every kind of
 * request, though the miss is answered from a fill still streaming from the origin
 * (src/serve/fill-respond.ts) and the hit from the stored object (src/serve/respond.ts). Each
 * case asks a fresh object twice, first while its body is on its way, then once it is stored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunningServer } from '../src/server/listen.js';
import { h1Only, startServer } from './helpers/transport.js';
import { native } from '../src/native/index.js';
import { crc32cHeader } from '../src/http/declared-digest.js';
import { contentEtag } from '../src/http/etag.js';
import { LAST_MODIFIED, startFaultOrigin, type Behaviour, type FaultOrigin } from './helpers/fault-origin.js';
import { get, metric, onOneConnection, type Reply } from './helpers/http.js';
import { random } from './helpers/content.js';
import { eventually } from './helpers/wait.js';

const SIZE = 300_000; // above the size answered only once stored (64 KiB)
const PACED: Behaviour = { chunk: 32 * 1024, chunkDelayMs: 3 }; // the miss is answered while the body arrives
const BEFORE = new Date(Date.parse(LAST_MODIFIED) - 86_400_000).toUTCString();
/** What a hit and a miss must agree on, besides status and body. */
const SAME = ['content-type', 'cache-control', 'accept-ranges', 'last-modified', 'content-range', 'content-length', 'vary'] as const;

let origin: FaultOrigin;
let cacheDir: string;
let srv: RunningServer;
let n = 0;

beforeAll(async () => {
  origin = await startFaultOrigin();
  cacheDir = mkdtempSync(join(tmpdir(), 'segd-edge-miss-'));
  srv = await startServer({ origin: origin.url, cacheDir, port: 0, threads: 1, player: false });
});
afterAll(async () => {
  await srv?.close(500);
  await origin?.stop();
  rmSync(cacheDir, { recursive: true, force: true });
});

/** A new object at the origin; `declared`: the origin sends its CRC32C up front, as S3 does when asked. */
function fresh(declared: boolean, behaviour: Behaviour = PACED): { path: string; body: Buffer } {
  const path = `/m${n++}.ts`;
  const body = random(SIZE);
  origin.put(path, body, declared ? { ...behaviour, headers: { 'x-amz-checksum-crc32c': crc32cHeader(native.crc32c(body)) } } : behaviour);
  return { path, body };
}

/** The miss, then (once stored) the hit, for the same request. */
async function missThenHit(path: string, headers: Record<string, string>, method: string): Promise<[Reply, Reply]> {
  const miss = await get(srv.url, path, headers, method);
  expect(miss.headers['cache-status']).toMatch(/fwd=miss/);
  const hits = await metric(srv.url, 'segd_cache_hits_total');
  await eventually(async () => (await get(srv.url, path, {}, 'HEAD')).headers['cache-status'] === 'segd; hit', { what: `${path} stored` });
  const hit = await get(srv.url, path, headers, method);
  expect(hit.headers['cache-status']).toBe('segd; hit');
  expect(await metric(srv.url, 'segd_cache_hits_total')).toBeGreaterThan(hits);
  return [miss, hit];
}

function expectSame(miss: Reply, hit: Reply, etag: boolean): void {
  expect(miss.status).toBe(hit.status);
  for (const name of SAME) expect([name, miss.headers[name]]).toEqual([name, hit.headers[name]]);
  if (etag) expect(miss.headers.etag).toBe(hit.headers.etag);
  expect(miss.body.equals(hit.body)).toBe(true);
}

const CASES: readonly (readonly [string, Record<string, string>, string, number])[] = [
  ['the whole object', {}, 'GET', 200],
  ['a HEAD', {}, 'HEAD', 200],
  ['a range inside the first chunk', { range: 'bytes=10-99' }, 'GET', 206],
  ['a range across chunks, ending inside one', { range: 'bytes=30000-100000' }, 'GET', 206],
  ['an open range', { range: 'bytes=250000-' }, 'GET', 206],
  ['a suffix range', { range: 'bytes=-1000' }, 'GET', 206],
  ['a HEAD with a range', { range: 'bytes=10-99' }, 'HEAD', 206],
  ['a range past the end', { range: 'bytes=400000-' }, 'GET', 416],
  ['If-Modified-Since its Last-Modified', { 'if-modified-since': LAST_MODIFIED }, 'GET', 304],
  ['If-Modified-Since a day before', { 'if-modified-since': BEFORE }, 'GET', 200],
  ['If-Unmodified-Since a day before', { 'if-unmodified-since': BEFORE }, 'GET', 412],
  ['If-Match another tag', { 'if-match': '"another"' }, 'GET', 412],
  ['If-None-Match *', { 'if-none-match': '*' }, 'GET', 304],
  ['If-Range a day before', { range: 'bytes=0-9', 'if-range': BEFORE }, 'GET', 200],
];

describe('a miss answers as the hit after it', () => {
  for (const declared of [false, true]) {
    describe(declared ? 'the origin declares the CRC32C (an ETag from the first byte)' : 'nothing declared', () => {
      it.each(CASES)('%s', async (_what, headers, method, status) => {
        const { path, body } = fresh(declared);
        const [miss, hit] = await missThenHit(path, headers, method);
        expect(miss.status).toBe(status);
        if (status === 200 && method === 'GET') expect(miss.body.equals(body)).toBe(true);
        // Without a declared checksum the miss cannot name the ETag its bytes will have.
        if (!declared) expect(miss.headers.etag).toBeUndefined();
        expectSame(miss, hit, declared);
      });
    });
  }

  it('an ETag declared up front answers If-None-Match and If-Match on the miss already', async () => {
    for (const [headers, status] of [
      [(etag: string) => ({ 'if-none-match': etag }), 304],
      [(etag: string) => ({ 'if-match': etag, range: 'bytes=0-9' }), 206],
      [(etag: string) => ({ range: 'bytes=0-9', 'if-range': etag }), 206],
    ] as const) {
      const { path, body } = fresh(true);
      const [miss, hit] = await missThenHit(path, headers(contentEtag(native.crc32c(body), body.length)), 'GET');
      expect([miss.status, hit.status]).toEqual([status, status]);
      expectSame(miss, hit, true);
    }
  });

  it('asked the way S3 is (x-amz-checksum-mode), a miss whose origin declared the CRC32C says it, like the hit', async () => {
    const { path, body } = fresh(true);
    const [miss, hit] = await missThenHit(path, { 'x-amz-checksum-mode': 'ENABLED' }, 'GET');
    expect(miss.headers['x-amz-checksum-crc32c']).toBe(crc32cHeader(native.crc32c(body)));
    expect(hit.headers['x-amz-checksum-crc32c']).toBe(miss.headers['x-amz-checksum-crc32c']);
    expect((await get(srv.url, fresh(true).path)).headers['x-amz-checksum-crc32c']).toBeUndefined(); // only when asked
  });

  it('a body of unknown length (chunked from the origin) ends whole, and is stored', async () => {
    const { path, body } = fresh(false, { ...PACED, noLength: true });
    const [miss, hit] = await missThenHit(path, {}, 'GET');
    expect(miss.status).toBe(200);
    expect(miss.body.equals(body)).toBe(true);
    expect(miss.headers['content-length']).toBeUndefined();
    expect(hit.body.equals(body)).toBe(true);
  });

  it('several ranges on a miss are answered whole (RFC 9110 lets a server ignore Range), as one part each once stored', async () => {
    const { path, body } = fresh(false);
    const [miss, hit] = await missThenHit(path, { range: 'bytes=0-9,20-29' }, 'GET');
    expect(miss.status).toBe(200);
    expect(miss.body.equals(body)).toBe(true);
    expect(hit.status).toBe(206);
    expect(hit.headers['content-type']).toMatch(/^multipart\/byteranges; boundary=/);
  });
});

describe('a small object (64 KiB or less), answered once checked and stored', () => {
  it('says on its miss that it was one, and the hit after it that it is a hit', async () => {
    const body = random(10_000);
    origin.put('/small.ts', body, PACED);
    const miss = await get(srv.url, '/small.ts');
    expect(miss.body.equals(body)).toBe(true);
    expect(miss.headers['cache-status']).toBe('segd; fwd=miss; fwd-status=200; stored');
    expect(miss.headers.age).toBe('0');
    const hit = await get(srv.url, '/small.ts');
    expect(hit.headers['cache-status']).toBe('segd; hit');
    expectSame(miss, hit, true);
  });
});

describe('answers that are not stored', () => {
  it('a playlist the origin says not to store is answered from its fill each time, with the head of a playlist', async () => {
    const text = Buffer.from('#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\na.ts\n#EXT-X-ENDLIST\n');
    origin.put('/nostore.m3u8', text, { headers: { 'cache-control': 'no-store', 'content-type': 'application/vnd.apple.mpegurl' } });
    for (let i = 0; i < 2; i++) {
      const r = await get(srv.url, '/nostore.m3u8');
      expect(r.status).toBe(200);
      expect(r.body.equals(text)).toBe(true);
      expect(r.headers['cache-status']).toMatch(/fwd=miss/);
      expect(r.headers['cache-control']).toBe('no-store');
      expect(r.headers['content-type']).toBe('application/vnd.apple.mpegurl');
      expect(r.headers.vary).toBe('Accept-Encoding');
    }
    expect(origin.count('/nostore.m3u8')).toBe(2);
  });

  it('an origin error passed through says no-store, whatever segd would say of the path, and ignores Range and preconditions', async () => {
    origin.put('/forbidden.ts', random(10), { status: 403, statusBodyBytes: 2000 });
    for (const headers of [{}, { range: 'bytes=0-9' }, { 'if-none-match': '*' }, { 'if-match': '"x"' }] as Record<string, string>[]) {
      const r = await get(srv.url, '/forbidden.ts', headers);
      expect(r.status).toBe(403);
      expect(r.body.length).toBe(2000);
      expect(r.headers['cache-control']).toBe('no-store');
      expect(r.headers['content-type']).toBe('text/plain');
    }
  });
});

describe.skipIf(h1Only('a keep-alive connection of node:http'))('a miss answered without a body', () => {
  // The client sees such an answer whole from its head alone; only the next request on the
  // connection shows whether the server ended it.
  it.each([
    ['a HEAD', {}, 'HEAD', 200],
    ['a 304', { 'if-none-match': '*' }, 'GET', 304],
    ['a 412', { 'if-match': '"another"' }, 'GET', 412],
    ['a 416', { range: 'bytes=400000-' }, 'GET', 416],
  ] as const)('%s lets the next request on its keep-alive connection through', async (_what, headers, method, status) => {
    const { path } = fresh(false);
    const [first, next] = await onOneConnection(srv.url, [
      { method, path, headers },
      { method: 'GET', path, headers: { range: 'bytes=0-9' } },
    ]);
    expect(first!.statusCode).toBe(status);
    expect(first!.headers['cache-status']).toMatch(/fwd=miss/);
    expect(next!.statusCode).toBe(206);
    expect(next!.reusedSocket).toBe(true);
  });
});

