/**
 * The edge against a misbehaving origin (test/helpers/fault-origin.ts): collapsed streaming
 * misses, and a defined outcome for every bad origin the issue names: a short or long body, a
 * reset midway, a drip-fed body, a redirect loop, an HTML page for a .ts, a 200 to a range
 * request, an enormous object, 5xx and a dead origin. Nothing wrong may stay in the cache.
 */
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { decodeTrailer, encodeTrailer, TAIL_BYTES, trailerLength } from '../src/store/disk/format.js';
import { join } from 'node:path';
import type { RunningServer } from '../src/server/listen.js';
import { native } from '../src/native/index.js';
import { crc32cHeader } from '../src/http/declared-digest.js';
import { faultEdge } from './helpers/fault-edge.js';
import { get, getTimed, metric, onOneConnection } from './helpers/http.js';
import { request, type IncomingMessage } from 'node:http';
import { random } from './helpers/content.js';
import { eventually } from './helpers/wait.js';

const h = faultEdge();
const { origin, edge, stored } = h;

/** The `reason: detail` of each fill the edge logged as discarded. */
function discarded(): string[] {
  return h.lines.filter((l) => l.msg === 'origin fetch discarded, nothing stored').map((l) => String(l.reason));
}

/** For `holdReset`: until the edge has taken this many body bytes from the origin. */
const taken = (s: RunningServer) => (bytes: number) => eventually(async () => (await metric(s.url, 'segd_origin_bytes_total')) >= bytes);

let n = 0;
const unique = (ext = 'ts'): string => `/v${++n}/seg.${ext}`;

describe('collapsed misses', () => {
  it('500 concurrent misses make one origin request, get identical bytes, and see bytes before the fill completes', async () => {
    const s = await edge();
    const path = unique();
    const body = random(256 * 1024);
    // The origin sends the first 64 KiB and then holds the rest until every client has bytes:
    // if waiters only got bytes once the object was complete, this would never happen.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    origin.put(path, body, { chunk: 16 * 1024, gate, gateAfter: 64 * 1024 });
    let firstBytes = 0;
    const replies = Array.from({ length: 500 }, () => getTimed(s.url, path, {}, () => firstBytes++));
    await eventually(() => firstBytes === 500, { what: 'a first byte at every client while the origin holds the rest', timeoutMs: 20_000 });
    expect(origin.finishedAt.get(path)).toBeUndefined(); // the origin has not finished
    release();
    const done = await Promise.all(replies);
    expect(origin.count(path)).toBe(1);
    for (const r of done) {
      expect(r.status).toBe(200);
      expect(r.error).toBeUndefined();
      expect(r.body.equals(body)).toBe(true);
    }
    const statuses = new Set(done.map((r) => r.headers['cache-status']));
    expect(statuses).toEqual(new Set(['segd; fwd=miss; fwd-status=200; stored', 'segd; fwd=miss; collapsed; fwd-status=200; stored']));
    expect(await metric(s.url, 'segd_collapsed_requests_total')).toBe(499);
    // and it was stored: the next one is a hit with the content-derived ETag
    const hit = await get(s.url, path);
    expect(hit.headers['cache-status']).toBe('segd; hit');
    expect(hit.headers.etag).toBe(`"${native.crc32c(body).toString(16).padStart(8, '0')}-${body.length.toString(16)}"`);
  }, 60_000);

  it('a range request on a miss is answered as soon as its bytes arrive', async () => {
    const s = await edge();
    const path = unique();
    const body = random(1024 * 1024);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    origin.put(path, body, { chunk: 64 * 1024, gate, gateAfter: 128 * 1024 });
    const whole = getTimed(s.url, path);
    const first = await getTimed(s.url, path, { range: 'bytes=0-99' }); // while the origin holds the rest
    expect(first.status).toBe(206);
    expect(first.headers['content-range']).toBe(`bytes 0-99/${body.length}`);
    expect(first.body.equals(body.subarray(0, 100))).toBe(true);
    const inner = await getTimed(s.url, path, { range: 'bytes=1000-1099' });
    expect(inner.status).toBe(206);
    expect(inner.headers['content-length']).toBe('100');
    expect(inner.body.equals(body.subarray(1000, 1100))).toBe(true);
    // HEAD: the range's head alone, at once, and ended: the next request on its connection is answered.
    const [head, next] = await onOneConnection(s.url, [
      { method: 'HEAD', path, headers: { range: 'bytes=1000-1099' } },
      { method: 'GET', path: '/healthz', headers: {} },
    ]);
    expect(head!.statusCode).toBe(206);
    expect(head!.headers['content-length']).toBe('100');
    expect(next!.statusCode).toBe(200);
    // Several ranges during a fill: the whole body (RFC 9110 lets a server ignore Range).
    const several = get(s.url, path, { range: 'bytes=0-9,2000-2009' });
    release();
    const r = await several;
    expect(r.status).toBe(200);
    expect(r.body.equals(body)).toBe(true);
    expect((await whole).body.equals(body)).toBe(true);
    expect(origin.count(path)).toBe(1);
  });
});

describe('revalidation', () => {
  it('concurrent requests for a stale object share one conditional request', async () => {
    const s = await edge();
    const path = unique('m3u8');
    const body = Buffer.from('#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\na.ts\n');
    // max-age=0: stored, but stale at once, so every later request revalidates
    const headers = { 'cache-control': 'max-age=0', 'content-type': 'application/vnd.apple.mpegurl' };
    origin.put(path, body, { headers });
    expect((await get(s.url, path)).body.equals(body)).toBe(true);
    expect(origin.count(path)).toBe(1); // the fill's own waiters are answered from it, not sent back
    let release!: () => void;
    origin.behave(path, { headers, holdRevalidation: new Promise<void>((r) => (release = r)) });
    const replies = Array.from({ length: 20 }, () => get(s.url, path));
    await eventually(() => origin.count(path) === 2, { what: 'the conditional request' });
    await new Promise((r) => setTimeout(r, 100)); // every request has arrived and waits on it
    release();
    for (const r of await Promise.all(replies)) {
      expect(r.body.equals(body)).toBe(true);
      expect(r.headers['cache-status']).toBe('segd; fwd=stale; fwd-status=304');
    }
    expect(origin.count(path)).toBe(2);
    expect(origin.log.filter((l) => l.path === path)[1]!.headers['if-none-match']).toMatch(/^"/);
  });
});

describe('revalidation refreshes the stored copy', () => {
  it("a 304's headers replace the stored ones and restart the freshness clock", async () => {
    const s = await edge();
    const path = unique('m3u8');
    const body = Buffer.from('#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nb.ts\n');
    const type = { 'content-type': 'application/vnd.apple.mpegurl' };
    origin.put(path, body, { headers: { ...type, 'cache-control': 'max-age=0' } });
    expect((await get(s.url, path)).body.equals(body)).toBe(true);
    origin.behave(path, { headers: { ...type, 'cache-control': 'max-age=60' } }); // what the 304 will say
    const revalidated = await get(s.url, path);
    expect(revalidated.headers['cache-status']).toBe('segd; fwd=stale; fwd-status=304');
    expect(revalidated.headers['cache-control']).toBe('max-age=60');
    const hit = await get(s.url, path);
    expect(hit.body.equals(body)).toBe(true);
    expect(hit.headers['cache-status']).toBe('segd; hit');
    expect(hit.headers['cache-control']).toBe('max-age=60');
    expect(origin.count(path)).toBe(2); // the fetch and the revalidation, nothing since
  });
});

describe('a range far ahead of the fill', () => {
  /** An object of `size` bytes whose fill the origin holds at 1 MiB until release(); `whole` is its first client's answer. */
  async function heldFill(s: RunningServer, size: number) {
    const path = unique('mp4');
    const body = random(size);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    origin.put(path, body, { chunk: 256 * 1024, gate, gateAfter: 1024 * 1024 });
    const whole = getTimed(s.url, path);
    await eventually(() => origin.count(path) === 1);
    return { path, body, release, whole };
  }

  it('is fetched from the origin on its own, pinned to the same version, instead of waiting for the fill', async () => {
    const s = await edge();
    const { path, body, release, whole } = await heldFill(s, 24 * 1024 * 1024);
    const seek = await getTimed(s.url, path, { range: 'bytes=20000000-20099999' }); // answered while the fill is held
    expect(seek.status).toBe(206);
    expect(seek.body.equals(body.subarray(20_000_000, 20_100_000))).toBe(true);
    const side = origin.log.filter((l) => l.path === path)[1]!;
    expect(side.headers.range).toBe('bytes=20000000-20099999');
    expect(side.headers['if-range']).toMatch(/^"/);
    const near = await getTimed(s.url, path, { range: 'bytes=100-199' }); // within reach: from the fill
    expect(near.body.equals(body.subarray(100, 200))).toBe(true);
    expect(origin.count(path)).toBe(2);
    release();
    expect((await whole).body.equals(body)).toBe(true);
  }, 30_000);

  it('waits on the fill when the origin answers the side request with another range', async () => {
    const s = await edge();
    const { path, body, release, whole } = await heldFill(s, 12 * 1024 * 1024);
    origin.behave(path, { lieContentRange: `bytes 0-99999/${body.length}` });
    const seek = getTimed(s.url, path, { range: 'bytes=11000000-11099999' });
    await eventually(() => origin.count(path) === 2);
    // Its bytes are the ones asked for, but the head says otherwise: not used, so the answer
    // waits for the fill, which is held.
    const early = await Promise.race([seek.then(() => 'answered'), new Promise((r) => setTimeout(() => r('waiting'), 500))]);
    expect(early).toBe('waiting');
    release();
    const r = await seek;
    expect(r.status).toBe(206);
    expect(r.body.equals(body.subarray(11_000_000, 11_100_000))).toBe(true);
    expect((await whole).body.equals(body)).toBe(true);
  }, 30_000);

  it('waits on the fill when the origin will not give the range, even if the fill ends meanwhile', async () => {
    const s = await edge();
    const { path, body, release, whole } = await heldFill(s, 12 * 1024 * 1024);
    // The seek's own request is answered late and whole (no 206): by then the fill has ended,
    // its chunks on disk and let go, and its first client gone.
    origin.behave(path, { delayMs: 600, ignoreRange: true });
    const seek = getTimed(s.url, path, { range: 'bytes=11000000-11099999' });
    await eventually(() => origin.count(path) === 2);
    release();
    expect((await whole).body.equals(body)).toBe(true);
    const r = await seek;
    expect(r.status).toBe(206);
    expect(r.body.equals(body.subarray(11_000_000, 11_100_000))).toBe(true);
  }, 30_000);
});

describe('bad origins', () => {
  it('a body shorter than its Content-Length: clients are cut off, nothing is stored', async () => {
    const s = await edge();
    const path = unique();
    const body = random(300_000);
    origin.put(path, body, { lieLength: 400_000, noValidators: true });
    const r = await getTimed(s.url, path);
    expect(r.error).toBeDefined();
    expect(r.body.length).toBeLessThan(400_000);
    await eventually(async () => (await metric(s.url, 'segd_fills_discarded_total')) === 1);
    expect(stored()).toEqual([]);
    expect(h.lines.some((l) => l.msg === 'origin fetch discarded, nothing stored' && String(l.reason).startsWith('origin'))).toBe(true);
    await get(s.url, path).catch(() => undefined);
    expect(origin.count(path)).toBe(2); // nothing was kept: asked again
  });

  it('a body longer than its Content-Length: the declared length is the object (HTTP framing), and it checks', async () => {
    const s = await edge();
    const path = unique();
    const body = random(100_000);
    origin.put(path, body, { lieLength: 60_000, noValidators: true });
    const r = await getTimed(s.url, path);
    expect(r.status).toBe(200);
    expect(r.body.equals(body.subarray(0, 60_000))).toBe(true);
    expect(r.headers['content-length']).toBe('60000');
  });

  it('a reset midway is resumed with a range request pinned by If-Range: the client gets every byte', async () => {
    const s = await edge();
    const path = unique();
    const body = random(600_000);
    origin.put(path, body, { resetAfter: 250_000, resetTimes: 1, chunk: 50_000, holdReset: taken(s) });
    const r = await getTimed(s.url, path);
    expect(r.error).toBeUndefined();
    expect(r.body.equals(body)).toBe(true);
    const resume = origin.log.filter((l) => l.path === path)[1]!;
    expect(resume.headers.range).toBe('bytes=250000-');
    expect(resume.headers['if-range']).toMatch(/^"/);
    expect(await metric(s.url, 'segd_origin_resumes_total')).toBe(1);
    await eventually(() => stored().length === 1);
    expect((await get(s.url, path)).headers['cache-status']).toBe('segd; hit');
  });

  it('a reset midway with nothing to pin a resume to: cut off, nothing stored', async () => {
    const s = await edge();
    const path = unique();
    origin.put(path, random(600_000), { resetAfter: 250_000, noValidators: true, chunk: 50_000, holdReset: taken(s) });
    const r = await getTimed(s.url, path);
    expect(r.error).toBeDefined();
    expect(r.body.length).toBeLessThan(600_000);
    await eventually(async () => (await metric(s.url, 'segd_fills_discarded_total{reason="origin"}')) === 1);
    expect(discarded()).toEqual([expect.stringMatching(/^origin: body broke after 250000 bytes: ./)]);
    expect(stored()).toEqual([]);
  });

  it('a body that keeps breaking is resumed twice, then cut off: nothing stored', async () => {
    const s = await edge();
    const path = unique();
    // Every answer, the resumes too, breaks after 100 kB: three answers bring 300 kB of 600 kB.
    origin.put(path, random(600_000), { resetAfter: 100_000, resetRanges: true, chunk: 50_000, holdReset: taken(s) });
    const r = await getTimed(s.url, path);
    expect(r.error).toBeDefined();
    await eventually(async () => (await metric(s.url, 'segd_fills_discarded_total{reason="origin"}')) === 1);
    expect(origin.log.filter((l) => l.path === path).map((l) => l.headers.range)).toEqual([undefined, 'bytes=100000-', 'bytes=200000-']);
    expect(await metric(s.url, 'segd_origin_resumes_total')).toBe(2);
    expect(stored()).toEqual([]);
  });

  it('a body of unknown length that breaks before its first byte: cut off, never a clean empty 200', async () => {
    const s = await edge();
    const path = unique();
    origin.put(path, random(100_000), { noLength: true, resetAfter: 0 });
    const r = await getTimed(s.url, path);
    expect(r.error).toBeDefined();
    expect(r.body.length).toBe(0);
    await eventually(async () => (await metric(s.url, 'segd_fills_discarded_total{reason="origin"}')) === 1);
    expect(stored()).toEqual([]);
  });

  it('an origin that answers a resume with 200 (ignoring Range): cut off, nothing stored', async () => {
    const s = await edge();
    const path = unique();
    origin.put(path, random(600_000), { resetAfter: 250_000, resetTimes: 1, ignoreRange: true, chunk: 50_000 });
    const r = await getTimed(s.url, path);
    expect(r.error).toBeDefined();
    await eventually(async () => (await metric(s.url, 'segd_fills_discarded_total{reason="resume"}')) === 1);
    expect(discarded()).toEqual([expect.stringMatching(/; resuming failed: the origin answered 200, not the rest of the same version$/)]);
    expect(stored()).toEqual([]);
  });

  it.each([
    ['at another offset', 'bytes 0-349999/600000'],
    ['of another length (another version)', 'bytes 250000-599999/700000'],
  ])('an origin that answers a resume with a range %s: cut off, nothing stored', async (_name, contentRange) => {
    const s = await edge();
    const path = unique();
    origin.put(path, random(600_000), { resetAfter: 250_000, resetTimes: 1, lieContentRange: contentRange, chunk: 50_000, holdReset: taken(s) });
    const r = await getTimed(s.url, path);
    expect(r.error).toBeDefined();
    expect(r.body.length).toBeLessThan(600_000);
    await eventually(async () => (await metric(s.url, 'segd_fills_discarded_total{reason="resume"}')) === 1);
    expect(origin.log.filter((l) => l.path === path).map((l) => l.headers.range)).toEqual([undefined, 'bytes=250000-']);
    expect(discarded()).toEqual([expect.stringMatching(/^resume: body broke after 250000 bytes \(.+\); resuming failed: the origin resumed at another offset$/)]);
    expect(stored()).toEqual([]);
  });

  it('a drip-fed body is ended by the body-idle timeout', async () => {
    const s = await edge({ originOptions: { bodyTimeoutMs: 300, headersTimeoutMs: 300 } });
    const path = unique();
    origin.put(path, random(100_000), { stall: true, noValidators: true });
    const t0 = performance.now();
    const r = await getTimed(s.url, path);
    expect(r.error).toBeDefined();
    expect(r.endAt - t0).toBeLessThan(5_000);
    await eventually(async () => (await metric(s.url, 'segd_fills_discarded_total')) === 1);
    expect(stored()).toEqual([]);
  });

  it('a redirect loop is a 502 with a log line and a metric, not a hang', async () => {
    const s = await edge();
    const path = unique();
    origin.put(path, random(10), { redirect: path });
    const r = await get(s.url, path);
    expect(r.status).toBe(502);
    expect(r.headers['cache-status']).toBe('segd; fwd=miss; detail=origin-invalid'); // it answered, unusably
    expect(origin.count(path)).toBe(6); // the first request and five redirects
    expect(h.lines.some((l) => l.msg === 'origin did not answer' && l.code === 'ESEGDREDIRECTLOOP')).toBe(true);
    expect(await metric(s.url, 'segd_origin_requests_total{status="302"}')).toBe(6);
  });

  it.each([
    ['206 (a part, where the whole was asked for)', 206, { 'content-range': 'bytes 0-10/5000' }, 'origin-invalid'],
    ['304 (to a request that was not conditional)', 304, {}, 'object-lost'],
  ] as const)('an origin that answers a plain GET with %s: 502, nothing stored, nothing of it passed on', async (_name, status, headers, detail) => {
    const s = await edge();
    const path = unique();
    origin.put(path, random(5000), { status, headers });
    for (let i = 1; i <= 2; i++) {
      const r = await get(s.url, path);
      expect(r.status).toBe(502);
      expect(r.headers['cache-status']).toBe(`segd; fwd=miss; ${status === 304 ? 'fwd-status=304; ' : ''}detail=${detail}`);
      expect(r.headers['content-range']).toBeUndefined();
      expect(origin.count(path)).toBe(i); // not retried, not remembered
    }
    expect(stored()).toEqual([]);
  });

  it("the 206's log line says what the origin did", async () => {
    const s = await edge();
    const path = unique();
    origin.put(path, random(5000), { status: 206, headers: { 'content-range': 'bytes 0-10/5000' } });
    expect((await get(s.url, path)).status).toBe(502);
    expect(h.lines.filter((l) => l.msg === 'origin did not answer').map((l) => [l.code, l.reason])).toEqual([
      ['ESEGDPARTIAL', expect.stringMatching(/\/seg\.ts answered 206 Partial Content to a request without Range$/)],
    ]);
  });

  it('a redirect is followed and the object stored under the name asked for', async () => {
    const s = await edge();
    const path = unique();
    const body = random(5000);
    origin.put('/elsewhere/real.ts', body);
    origin.put(path, Buffer.alloc(0), { redirect: '/elsewhere/real.ts' });
    expect((await get(s.url, path)).body.equals(body)).toBe(true);
    expect((await get(s.url, path)).headers['cache-status']).toBe('segd; hit');
  });

  it('an HTML error page with 200 for a .ts is passed on as it is, but never cached for a year', async () => {
    const s = await edge();
    const path = unique();
    origin.put(path, Buffer.from('<html>oops</html>'), { headers: { 'content-type': 'text/html' } });
    const r = await get(s.url, path);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/html');
    expect(r.headers['cache-control']).not.toMatch(/immutable|31536000/);
  });

  it.each([
    ['of exactly --max-object-size, with a length, is stored', 100_000, false, true],
    ['one byte larger is not', 100_001, false, false],
    ['of exactly --max-object-size and unknown length (chunked) is stored', 100_000, true, true],
    ['larger, of unknown length, is found out midway and not stored', 300_000, true, false],
  ])('an object %s', async (_name, size, noLength, storedIt) => {
    const s = await edge({ maxObjectSize: 100_000 });
    const path = unique();
    const body = random(size);
    origin.put(path, body, { noLength, chunk: 32 * 1024 });
    expect((await get(s.url, path)).body.equals(body)).toBe(true);
    if (storedIt) await eventually(() => stored().length === 1);
    const again = await get(s.url, path);
    expect(again.body.equals(body)).toBe(true);
    expect(origin.count(path)).toBe(storedIt ? 1 : 2);
    expect(stored()).toHaveLength(storedIt ? 1 : 0);
    expect(await metric(s.url, 'segd_disk_errors_total')).toBe(0);
  });

  it('an object larger than --max-object-size is passed through, never stored', async () => {
    const s = await edge({ maxObjectSize: 100_000 });
    const path = unique();
    const body = random(300_000);
    origin.put(path, body);
    for (let i = 0; i < 2; i++) {
      const r = await get(s.url, path);
      expect(r.body.equals(body)).toBe(true);
      expect(r.headers['cache-status']).toBe('segd; fwd=miss; fwd-status=200');
    }
    expect(origin.count(path)).toBe(2);
    expect(stored()).toEqual([]);
  });

  it('a declared CRC32C that does not match: cut off, nothing stored', async () => {
    const s = await edge();
    const path = unique();
    const body = random(200_000);
    origin.put(path, body, { headers: { 'x-amz-checksum-crc32c': crc32cHeader(native.crc32c(body) ^ 1) } });
    const r = await getTimed(s.url, path);
    expect(r.error).toBeDefined();
    await eventually(async () => (await metric(s.url, 'segd_fills_discarded_total{reason="checksum"}')) === 1);
    const crc = native.crc32c(body);
    expect(discarded()).toEqual([`checksum: CRC32C ${crc.toString(16)} differs from the declared ${((crc ^ 1) >>> 0).toString(16)}`]);
    expect(stored()).toEqual([]);
  });

  // Content-MD5 (RFC 1864) and Repr-Digest (RFC 9530) are checked like S3's CRC32C: a body that
  // does not match is never stored, and its last byte never sent.
  const digests: Array<[string, (b: Buffer) => Record<string, string>]> = [
    ['Content-MD5', (b) => ({ 'content-md5': createHash('md5').update(b).digest('base64') })],
    ['Repr-Digest sha-256', (b) => ({ 'repr-digest': `sha-256=:${createHash('sha256').update(b).digest('base64')}:` })],
    ['Repr-Digest sha-512', (b) => ({ 'repr-digest': `sha-512=:${createHash('sha512').update(b).digest('base64')}:` })],
  ];
  it.each(digests)('a declared %s that does not match: cut off short of the last byte, nothing stored', async (_name, declare) => {
    const s = await edge();
    const path = unique();
    const body = random(200_000);
    const other = Buffer.from(body);
    other[7] = other[7]! ^ 1;
    origin.put(path, body, { headers: declare(other) });
    const r = await getTimed(s.url, path);
    expect(r.error).toBeDefined();
    expect(r.body.length).toBeLessThan(body.length);
    await eventually(async () => (await metric(s.url, 'segd_fills_discarded_total{reason="checksum"}')) === 1);
    expect(discarded()).toEqual([expect.stringMatching(/^checksum: (md5|sha256|sha512) \S+ differs from the declared \S+$/)]);
    expect(stored()).toEqual([]);
  });
  it.each(digests)('a declared %s that matches: served whole and stored', async (_name, declare) => {
    const s = await edge();
    const path = unique();
    const body = random(200_000);
    origin.put(path, body, { headers: declare(body) });
    const r = await getTimed(s.url, path);
    expect(r.error).toBeUndefined();
    expect(r.body.equals(body)).toBe(true);
    await eventually(() => stored().length === 1);
    expect(await metric(s.url, 'segd_fills_discarded_total')).toBe(0);
  });

  it('a declared CRC32C that matches gives the content-derived ETag from the first byte on', async () => {
    const s = await edge();
    const path = unique();
    const body = random(200_000);
    origin.put(path, body, { headers: { 'x-amz-checksum-crc32c': crc32cHeader(native.crc32c(body)) }, chunk: 50_000, chunkDelayMs: 20 });
    const streamed = await get(s.url, path);
    await eventually(() => stored().length === 1);
    const cached = await get(s.url, path);
    expect(streamed.headers.etag).toBeDefined();
    expect(cached.headers.etag).toBe(streamed.headers.etag);
  });

  it('without a declared checksum, a streamed answer has no ETag, and later ones the content-derived one', async () => {
    const s = await edge();
    const path = unique();
    const body = random(200_000);
    origin.put(path, body);
    const streamed = await get(s.url, path);
    expect(streamed.headers.etag).toBeUndefined(); // never an ETag a later answer contradicts
    const cached = await get(s.url, path);
    expect(cached.headers.etag).toBe(`"${native.crc32c(body).toString(16).padStart(8, '0')}-${body.length.toString(16)}"`);
  });

  it.each([
    ['a segment of 64 KiB, the most answered whole', 'ts', 64 * 1024, true],
    ['a segment a byte larger, streamed', 'ts', 64 * 1024 + 1, false],
    ['a playlist of any size, answered whole', 'm3u8', 200_000, true],
  ])('%s: its first answer waits for the stored copy (and has its ETag) or streams (and has none)', async (_name, ext, size, whole) => {
    const s = await edge();
    const path = unique(ext);
    const body = ext === 'm3u8' ? Buffer.from('#EXTM3U\n' + '#EXTINF:4,\nseg.ts\n'.repeat(Math.ceil(size / 17))).subarray(0, size) : random(size);
    origin.put(path, body);
    const first = await get(s.url, path);
    expect(first.body.equals(body)).toBe(true);
    expect(first.headers.etag !== undefined).toBe(whole);
  });

  it('5xx is retried, then passed on; a flapping origin is ridden through', async () => {
    const s = await edge();
    const always = unique();
    origin.put(always, random(100), { status: 503 });
    const r = await get(s.url, always);
    expect(r.status).toBe(503);
    expect(origin.count(always)).toBe(3); // one try and two retries
    expect(r.headers['cache-status']).toBe('segd; fwd=miss; fwd-status=503');
    const flapping = unique();
    const body = random(1000);
    origin.put(flapping, body, { status: (k) => (k % 2 === 1 ? 503 : undefined) });
    const f = await get(s.url, flapping);
    expect(f.status).toBe(200);
    expect(f.body.equals(body)).toBe(true);
    expect(await metric(s.url, 'segd_origin_retries_total')).toBe(3);
  });
});

describe('a large object that is not stored (passed through)', () => {
  const MiB = 1024 * 1024;
  const big = random(100 * MiB); // over the 64 MiB a fill holds whole
  /** Bytes the fill may hold for its waiters: the 16 MiB window and a chunk in flight. */
  const bound = 17 * MiB;

  /** A GET whose body is read only when asked to. */
  function pausedGet(base: string, path: string, headers: Record<string, string> = {}): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = request(new URL(path, base), { headers, agent: false }, (res) => {
        res.pause();
        resolve(res);
      });
      req.on('error', reject);
      req.end();
    });
  }
  const readAll = async (res: IncomingMessage): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  };
  /** Samples the fills' memory until the origin's bytes stop moving (the fill waits on its waiter); the largest sample. */
  async function memoryUntilPaused(base: string): Promise<{ most: number; fetched: number }> {
    let most = 0;
    let last = -1;
    let still = 0;
    await eventually(async () => {
      most = Math.max(most, await metric(base, 'segd_fill_memory_bytes'));
      const fetched = await metric(base, 'segd_origin_bytes_total');
      still = fetched === last ? still + 1 : 0;
      last = fetched;
      return still >= 5 || fetched === big.length;
    }, { everyMs: 50, what: 'the origin read to stop' });
    return { most, fetched: last };
  }

  it("is read from the origin at its slowest client's pace, never held whole", async () => {
    const s = await edge({ maxObjectSize: MiB });
    const path = unique();
    origin.put(path, big);
    const res = await pausedGet(s.url, path);
    const { most, fetched } = await memoryUntilPaused(s.url);
    expect(most).toBeGreaterThan(0); // the gauge sees the fill's window, not nothing
    expect(most).toBeLessThanOrEqual(bound);
    expect(fetched).toBeLessThan(big.length); // paused by the client, not read on into memory
    expect((await readAll(res)).equals(big)).toBe(true);
    expect(stored()).toEqual([]);
  });

  it('is abandoned once its only client disconnects while its answer waits on a full socket', async () => {
    const s = await edge({ maxObjectSize: MiB });
    const path = unique();
    origin.put(path, big);
    const res = await pausedGet(s.url, path);
    await memoryUntilPaused(s.url); // the answer waits for the socket to drain, the fill for the answer
    res.destroy();
    // The wait ends with the connection, the answer leaves the fill, and nobody is left to read it.
    await eventually(async () => (await metric(s.url, 'segd_fills_discarded_total{reason="aborted"}')) === 1, { what: 'the fetch abandoned' });
    expect(await metric(s.url, 'segd_fill_memory_bytes')).toBe(0);
  });

  it('is abandoned at the origin once its last client has left', async () => {
    const s = await edge({ maxObjectSize: MiB });
    const path = unique();
    origin.put(path, big);
    const r = await get(s.url, path, { range: 'bytes=0-999' });
    expect(r.status).toBe(206);
    expect(r.body.equals(big.subarray(0, 1000))).toBe(true);
    await eventually(async () => (await metric(s.url, 'segd_fills_discarded_total{reason="aborted"}')) === 1, { what: 'the fetch abandoned' });
    expect(await metric(s.url, 'segd_origin_bytes_total')).toBeLessThan(8 * MiB); // at once, not after a window's worth for nobody
    expect(await metric(s.url, 'segd_fill_memory_bytes')).toBe(0);
  });

  it('a client that leaves does not cut the others off: the fetch goes on for those still reading', async () => {
    const s = await edge({ maxObjectSize: MiB });
    const path = unique();
    origin.put(path, big);
    // Both ask at once, so they share the one fetch; the short one leaves after 1000 bytes.
    const [whole, short] = await Promise.all([pausedGet(s.url, path), get(s.url, path, { range: 'bytes=0-999' })]);
    expect(short.status).toBe(206);
    expect(short.body.equals(big.subarray(0, 1000))).toBe(true);
    expect((await readAll(whole)).equals(big)).toBe(true);
    expect(origin.count(path)).toBe(1);
    expect(await metric(s.url, 'segd_fills_discarded_total{reason="aborted"}')).toBe(0);
  });

  it('a range far ahead, answered by the origin on its own, does not keep the fetch going once the others have left', async () => {
    const s = await edge({ maxObjectSize: MiB });
    const path = unique();
    origin.put(path, big, { chunk: 256 * 1024, chunkDelayMs: 30 }); // the seek below takes about 1.2 s
    // Asked at once, the two share one fetch; the seek's bytes come from an origin request of its own.
    const first = pausedGet(s.url, path);
    let seekDone = false;
    const seek = get(s.url, path, { range: 'bytes=90000000-99999999' }).finally(() => (seekDone = true));
    const whole = await first;
    await eventually(() => origin.count(path) === 2, { what: "the seek's own origin request" });
    expect(origin.log.filter((l) => l.path === path).map((l) => l.headers.range)).toEqual([undefined, 'bytes=90000000-99999999']);
    whole.destroy();
    await eventually(async () => (await metric(s.url, 'segd_fills_discarded_total{reason="aborted"}')) === 1, { everyMs: 20, what: 'the fetch abandoned' });
    expect(seekDone).toBe(false);
    const r = await seek;
    expect(r.status).toBe(206);
    expect(r.body.equals(big.subarray(90_000_000, 100_000_000))).toBe(true);
  });

  it('a HEAD, which reads no body, does not keep the fetch reading or holding memory', async () => {
    const s = await edge({ maxObjectSize: MiB });
    const path = unique();
    origin.put(path, big);
    const r = await get(s.url, path, {}, 'HEAD');
    expect(r.status).toBe(200);
    expect(r.headers['content-length']).toBe(String(big.length));
    await eventually(async () => (await metric(s.url, 'segd_fills_discarded_total{reason="aborted"}')) === 1, { what: 'the fetch abandoned' });
    await eventually(async () => (await metric(s.url, 'segd_fill_memory_bytes')) === 0, { what: 'the window let go' });
  });

  it('a HEAD with a Range, which reads no body either, does not keep the fetch going', async () => {
    const s = await edge({ maxObjectSize: MiB });
    const path = unique();
    origin.put(path, big);
    const r = await get(s.url, path, { range: 'bytes=1000-1999' }, 'HEAD');
    expect(r.status).toBe(206);
    expect(r.headers['content-range']).toBe(`bytes 1000-1999/${big.length}`);
    await eventually(async () => (await metric(s.url, 'segd_fills_discarded_total{reason="aborted"}')) === 1, { what: 'the fetch abandoned' });
    await eventually(async () => (await metric(s.url, 'segd_fill_memory_bytes')) === 0, { what: 'the window let go' });
  });

  it('a newcomer after its start was let go gets a fetch of its own, and both get every byte', async () => {
    const s = await edge({ maxObjectSize: MiB });
    const path = unique();
    origin.put(path, big);
    const first = await pausedGet(s.url, path);
    // The first client reads 40 MiB, then stops: the fill lets go of what it sent.
    const chunks: Buffer[] = [];
    let got = 0;
    const ended = new Promise<void>((resolve, reject) => {
      first.on('end', resolve);
      first.on('error', reject);
    });
    await new Promise<void>((resolve) => {
      let stopped = false;
      first.on('data', (c: Buffer) => {
        chunks.push(c);
        got += c.length;
        if (got >= 40 * MiB && !stopped) {
          stopped = true;
          first.pause();
          resolve();
        }
      });
      first.resume();
    });
    const second = await get(s.url, path);
    expect(second.body.equals(big)).toBe(true);
    expect(origin.count(path)).toBe(2);
    first.resume();
    await ended;
    expect(Buffer.concat(chunks).equals(big)).toBe(true);
  });
});

describe('an object being stored', () => {
  it('leaves memory as soon as it is on disk and sent; a newcomer reads what left back from the file', async () => {
    const MiB = 1024 * 1024;
    const s = await edge();
    const path = unique();
    const body = random(12 * MiB);
    origin.put(path, body, { chunk: 256 * 1024, chunkDelayMs: 20 });
    const first = get(s.url, path);
    let most = 0;
    await eventually(async () => {
      most = Math.max(most, await metric(s.url, 'segd_fill_memory_bytes'));
      return (await metric(s.url, 'segd_origin_bytes_total')) >= 6 * MiB;
    }, { everyMs: 20, what: '6 MiB fetched' });
    // A client that keeps up leaves a few chunks in memory (a dozen, should the disk lag), not the object so far.
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(3 * MiB);
    const second = await get(s.url, path);
    expect(second.body.equals(body)).toBe(true);
    expect((await first).body.equals(body)).toBe(true);
    expect(origin.count(path)).toBe(1); // one fetch for both
  });

  it('a small object whose commit fails is still answered whole from the fill, though its chunks were on disk', async () => {
    // Answered whole once stored (serve/edge.ts), a small object's request waits for the fill's end
    // before it reads a byte. Here the commit fails: the trailer, with a long kept header, outgrows
    // the reservation and the 100 KiB quota has no room for more, so there is no stored copy and
    // the answer comes from the fill, whose chunks were on disk before anyone read them.
    const s = await edge({ cacheDiskSize: '100KiB', maxObjectSize: '100KiB' });
    const path = unique();
    const body = random(60_000);
    origin.put(path, body, { chunk: 8192, chunkDelayMs: 15, headers: { 'content-disposition': `attachment; filename="${'x'.repeat(8000)}.ts"` } });
    const r = await get(s.url, path);
    expect(r.status).toBe(200);
    expect(r.body.equals(body)).toBe(true);
    expect(await metric(s.url, 'segd_disk_errors_total{op="commit"}')).toBe(1);
    expect(stored()).toEqual([]);
  });
});

describe('small objects answered whole once stored', () => {
  /** Descriptors this process holds on files under the cache directory. */
  function openInCache(): string[] {
    return readdirSync('/proc/self/fd').flatMap((fd) => {
      try {
        const target = readlinkSync(`/proc/self/fd/${fd}`);
        return target.startsWith(h.cacheDir) ? [target] : [];
      } catch {
        return []; // closed since the listing
      }
    });
  }

  it('leave no descriptor of their fill open once answered', async () => {
    // The answer waits attached to the fill (so its bytes stay readable should the stored copy be
    // gone); a fill keeps its temporary file open for as long as anyone is attached.
    const s = await edge();
    const bodies = Array.from({ length: 4 }, () => random(30_000));
    const paths = bodies.map((b) => {
      const p = unique();
      origin.put(p, b, { chunk: 8192, chunkDelayMs: 10 });
      return p;
    });
    for (const [i, p] of paths.entries()) expect((await get(s.url, p)).body.equals(bodies[i]!)).toBe(true);
    expect(stored()).toHaveLength(paths.length);
    // At most the last fill's close is still under way; an earlier one left open is a leak (it
    // would close only when GC finds its handle, which the wait below would give time to).
    expect(openInCache().length).toBeLessThanOrEqual(1);
    await eventually(() => openInCache().length === 0, { timeoutMs: 2000, what: 'no descriptor left open in the cache' });
  });
});

describe('an object that is not stored', () => {
  it('is held whole while it fills, so a newcomer after its first client has read on still shares the one fetch', async () => {
    const s = await edge();
    const path = unique();
    const body = random(2 * 1024 * 1024);
    origin.put(path, body, { chunk: 128 * 1024, chunkDelayMs: 20, headers: { 'cache-control': 'no-store' } });
    const first = get(s.url, path);
    await eventually(async () => (await metric(s.url, 'segd_origin_bytes_total')) >= 1024 * 1024, { everyMs: 20, what: '1 MiB fetched' });
    const second = await get(s.url, path);
    expect(second.body.equals(body)).toBe(true);
    expect((await first).body.equals(body)).toBe(true);
    expect(origin.count(path)).toBe(1);
    expect(stored()).toEqual([]);
  });
});

describe('a dead origin', () => {
  it('costs a fast failure once the breaker opens, and serves what it has', async () => {
    const s = await edge({ originOptions: { retry: { retries: 0, baseMs: 1, capMs: 1 } } });
    const cached = unique();
    const body = random(5000);
    origin.put(cached, body);
    await get(s.url, cached);
    await origin.stop();
    try {
      for (let i = 0; i < 5; i++) expect((await get(s.url, unique())).status).toBe(502);
      const t0 = performance.now();
      const r = await get(s.url, unique());
      expect(r.status).toBe(502);
      expect(r.headers['cache-status']).toMatch(/detail=origin-down/);
      expect(performance.now() - t0).toBeLessThan(200);
      expect(await metric(s.url, 'segd_origin_short_circuits_total')).toBeGreaterThanOrEqual(1);
      expect(await metric(s.url, 'segd_origin_breaker_state')).toBe(2);
      const hit = await get(s.url, cached);
      expect(hit.status).toBe(200);
      expect(hit.body.equals(body)).toBe(true);
    } finally {
      await origin.start();
    }
  });
});

describe('disk files', () => {
  it('only complete objects are ever in data/, and nothing is left in tmp/', async () => {
    const s = await edge();
    const path = unique();
    const body = random(1024 * 1024);
    origin.put(path, body, { chunk: 128 * 1024, chunkDelayMs: 20 });
    const reply = getTimed(s.url, path);
    const seen: number[] = [];
    while (!(await Promise.race([reply.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 5))]))) {
      for (const f of stored()) seen.push(statSync(join(h.cacheDir, 'data', f.slice(0, 2), f)).size);
    }
    await eventually(() => stored().length === 1);
    for (const f of stored()) seen.push(statSync(join(h.cacheDir, 'data', f.slice(0, 2), f)).size);
    expect(new Set(seen).size).toBe(1); // one size ever seen: the complete file
    expect(seen[0]).toBeGreaterThan(body.length);
    expect(readdirSync(join(h.cacheDir, 'tmp'))).toEqual([]);
  });
});

describe("the origin's headers", () => {
  it("the object's own go on to clients, on the miss as on the hit; the origin's transfer and cookies do not", async () => {
    const s = await edge();
    const path = unique();
    const body = random(100_000);
    const own = {
      expires: 'Thu, 01 Jan 2037 00:00:00 GMT',
      'last-modified': 'Sun, 31 Dec 2023 00:00:00 GMT',
      'content-disposition': 'attachment; filename="seg.ts"',
      'content-language': 'en',
    };
    origin.put(path, body, { headers: { ...own, 'set-cookie': 'session=1', 'x-origin-only': 'yes' } });
    const miss = await get(s.url, path);
    expect(miss.headers['cache-status']).toBe('segd; fwd=miss; fwd-status=200; stored');
    const hit = await get(s.url, path);
    expect(hit.headers['cache-status']).toBe('segd; hit');
    for (const r of [miss, hit]) {
      expect(r.body.equals(body)).toBe(true);
      expect(r.headers).toMatchObject(own);
      expect(r.headers['set-cookie']).toBeUndefined();
      expect(r.headers['x-origin-only']).toBeUndefined();
    }
    expect(origin.count(path)).toBe(1);
  });

  it.each([
    ['a small one, answered whole', 5000],
    ['a large one, streamed', 300_000],
  ])('a Content-Disposition that is not ASCII is left out, and the object is served (%s)', async (_name, size) => {
    // node:http throws on writing such a value: kept, it made every answer a 500.
    const s = await edge();
    const path = unique();
    const body = random(size);
    // The origin's node:http sends this string's UTF-8 reading: the single byte 0xE9 for "é".
    origin.put(path, body, { headers: { 'content-disposition': 'attachment; filename="caf\u00c3\u00a9.ts"', 'content-language': 'fr' } });
    for (const want of ['segd; fwd=miss; fwd-status=200; stored', 'segd; hit']) {
      const r = await get(s.url, path);
      expect(r.status).toBe(200);
      expect(r.headers['cache-status']).toBe(want);
      expect(r.body.equals(body)).toBe(true);
      expect(r.headers['content-disposition']).toBeUndefined();
      expect(r.headers['content-language']).toBe('fr');
      if (want.endsWith('stored')) await eventually(() => stored().length === 1);
    }
  });

  it('a stored Content-Disposition that is not ASCII (a cache written before that check) is left out too', async () => {
    let s = await edge();
    const path = unique();
    const body = random(5000);
    origin.put(path, body, { headers: { 'content-disposition': 'attachment; filename="x.ts"' } });
    expect((await get(s.url, path)).headers['content-disposition']).toBe('attachment; filename="x.ts"');
    await eventually(() => stored().length === 1);
    await s.close(500);
    const name = stored()[0]!;
    const file = join(h.cacheDir, 'data', name.slice(0, 2), name);
    const bytes = readFileSync(file);
    const n = trailerLength(bytes.subarray(bytes.length - TAIL_BYTES), bytes.length)!;
    const json = bytes.subarray(bytes.length - TAIL_BYTES - n, bytes.length - TAIL_BYTES);
    const meta = decodeTrailer(json, bytes.length, JSON.parse(json.toString()).key)!;
    const old = { ...meta, headers: { ...meta.headers, 'content-disposition': 'attachment; filename="caf\u00e9.ts"' } };
    writeFileSync(file, Buffer.concat([body, encodeTrailer(old)]));
    s = await h.reopen();
    const r = await get(s.url, path);
    expect(r.status).toBe(200);
    expect(r.headers['cache-status']).toBe('segd; hit');
    expect(r.body.equals(body)).toBe(true);
    expect(r.headers['content-disposition']).toBeUndefined();
  });

  it('Content-Encoding: identity is no encoding: stored like any object', async () => {
    const s = await edge();
    const path = unique();
    const body = random(10_000);
    origin.put(path, body, { headers: { 'content-encoding': 'Identity' } });
    expect((await get(s.url, path)).body.equals(body)).toBe(true);
    await eventually(() => stored().length === 1);
    expect((await get(s.url, path)).headers['cache-status']).toBe('segd; hit');
    expect(origin.count(path)).toBe(1);
  });

  it('an encoded body passed through keeps its Content-Encoding', async () => {
    const s = await edge();
    const path = unique();
    const body = random(10_000);
    origin.put(path, body, { headers: { 'content-encoding': 'br' } });
    for (let i = 0; i < 2; i++) {
      const r = await get(s.url, path);
      expect(r.headers['content-encoding']).toBe('br');
      expect(r.body.equals(body)).toBe(true);
    }
    expect(origin.count(path)).toBe(2); // not stored
  });
});
