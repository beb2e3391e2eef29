/**
 * segd serve against a real server on an ephemeral port, real files and real sockets.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { renameSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { RunningServer } from '../src/server/listen.js';
import { overH2, startServer } from './helpers/transport.js';
import { attempt, get, metric, parseMultipart, rawStatus, type Outcome } from './helpers/http.js';
import { skipping } from './helpers/native.js';
import { eventually } from './helpers/wait.js';
import { native, sigbusFaults } from '../src/native/index.js';
import { crc32cTable } from '../src/native/fallback.js';
import { crcHex } from '../src/http/etag.js';
import { livePlaylist, random, tempTree, vodPlaylist, type TempTree } from './helpers/content.js';

let tree: TempTree;
let outside: TempTree;
let srv: RunningServer;
let base: string;
const files: Record<string, Buffer> = {};

beforeAll(async () => {
  tree = tempTree();
  outside = tempTree('segd-outside-');
  outside.write('secret.txt', 'TOP-SECRET-OUTSIDE-ROOT\n');
  files.seg = tree.write('vod/seg0.m4s', random(300_000));
  files.ts = tree.write('vod/seg1.ts', random(100_003));
  files.small = tree.write('vod/init.mp4', random(1000));
  files.empty = tree.write('vod/empty.m4s', Buffer.alloc(0));
  files.vod = tree.write('vod/main.m3u8', vodPlaylist(Array.from({ length: 60 }, (_, i) => `seg${i}.m4s`)));
  files.live = tree.write('live/main.m3u8', livePlaylist(['a.ts', 'b.ts', 'c.ts'], 4));
  files.json = tree.write('data/info.json', '{"a":1}');
  files.dot = tree.write('.secret', 'dotfile');
  tree.write('vod/.hidden.ts', 'hidden');
  symlinkSync(join(outside.dir, 'secret.txt'), join(tree.dir, 'escape.ts'));
  symlinkSync(outside.dir, join(tree.dir, 'escapedir'));
  symlinkSync(join(tree.dir, 'vod', 'seg1.ts'), join(tree.dir, 'inside-link.ts'));
  srv = await startServer({ root: tree.dir, host: '127.0.0.1', port: 0, threads: 1, validityMs: 200, player: false });
  base = srv.url;
});

afterAll(async () => {
  await srv?.close(1000);
  tree?.remove();
  outside?.remove();
});

describe('whole objects', () => {
  it('serves exact bytes with content-derived validators and caching headers', async () => {
    const r = await get(base, '/vod/seg0.m4s');
    expect(r.status).toBe(200);
    expect(r.body.equals(files.seg!)).toBe(true);
    expect(r.headers['content-type']).toBe('video/mp4');
    expect(r.headers['content-length']).toBe(String(files.seg!.length));
    expect(r.headers['etag']).toMatch(/^"[0-9a-f]{8}-[0-9a-f]+"$/);
    expect(r.headers['accept-ranges']).toBe('bytes');
    expect(r.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(r.headers['last-modified']).toMatch(/GMT$/);
    expect(r.headers['access-control-allow-origin']).toBe('*');
    expect(r.headers['access-control-expose-headers']).toContain('Content-Range');
  });

  it('cold and hot answers carry identical bytes and ETags', async () => {
    const cold = await get(base, '/vod/seg1.ts');
    const hot = await get(base, '/vod/seg1.ts');
    expect(cold.body.equals(files.ts!)).toBe(true);
    expect(hot.body.equals(files.ts!)).toBe(true);
    expect(hot.headers['etag']).toBe(cold.headers['etag']);
    expect(cold.headers['content-type']).toBe('video/mp2t');
  });

  it('gives the same ETag to the same bytes under another name', async () => {
    tree.write('copy/seg0.m4s', files.seg!);
    const [a, b] = await Promise.all([get(base, '/vod/seg0.m4s'), get(base, '/copy/seg0.m4s')]);
    expect(b.headers['etag']).toBe(a.headers['etag']);
    const c = await get(base, '/vod/init.mp4');
    expect(c.headers['etag']).not.toBe(a.headers['etag']);
  });

  it('serves an empty file', async () => {
    const r = await get(base, '/vod/empty.m4s');
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(0);
    expect(r.headers['content-length']).toBe('0');
  });

  it('HEAD sends exactly the headers of GET and no body', async () => {
    for (const [path, headers] of [['/vod/seg0.m4s', {}], ['/vod/seg0.m4s', { range: 'bytes=5-10' }], ['/vod/main.m3u8', { 'accept-encoding': 'br' }]] as const) {
      const g = await get(base, path, headers);
      const h = await get(base, path, headers, 'HEAD');
      expect(h.status).toBe(g.status);
      expect(h.body.length).toBe(0);
      const strip = (x: Record<string, unknown>): Record<string, unknown> => ({ ...x, date: undefined });
      expect(strip(h.headers)).toEqual(strip(g.headers));
    }
  });

  it('labels content types and caching by kind', async () => {
    const vod = await get(base, '/vod/main.m3u8');
    expect(vod.headers['content-type']).toBe('application/vnd.apple.mpegurl');
    expect(vod.headers['cache-control']).toBe('public, max-age=86400');
    const live = await get(base, '/live/main.m3u8');
    expect(live.headers['cache-control']).toBe('public, max-age=2'); // half of a 4 s target duration
    const json = await get(base, '/data/info.json');
    expect(json.headers['content-type']).toBe('application/json');
  });
});

describe('byte ranges', () => {
  const seg = (): Buffer => files.seg!;
  it.each([
    ['bytes=0-0', 0, 0],
    ['bytes=1-1000', 1, 1000],
    ['bytes=299999-', 299_999, 299_999],
    ['bytes=-100', 299_900, 299_999],
    ['bytes=12345-', 12_345, 299_999],
    ['bytes=100-9999999', 100, 299_999],
  ])('%s → 206 with the right bytes', async (range, start, end) => {
    const r = await get(base, '/vod/seg0.m4s', { range });
    expect(r.status).toBe(206);
    expect(r.headers['content-range']).toBe(`bytes ${start}-${end}/300000`);
    expect(r.headers['content-length']).toBe(String(end - start + 1));
    expect(r.body.equals(seg().subarray(start, end + 1))).toBe(true);
  });

  it('416 with Content-Range */LEN when nothing is satisfiable', async () => {
    const r = await get(base, '/vod/seg0.m4s', { range: 'bytes=300000-' });
    expect(r.status).toBe(416);
    expect(r.headers['content-range']).toBe('bytes */300000');
  });

  it.each(['bytes=abc', 'bytes=5-1', 'pages=1-2', 'bytes=0-10,0-300000,5-', `bytes=${Array.from({ length: 40 }, (_, i) => `${i}-${i}`).join(',')}`])(
    'ignores %s and answers 200 with the whole body',
    async (range) => {
      const r = await get(base, '/vod/seg0.m4s', { range });
      expect(r.status).toBe(200);
      expect(r.body.equals(seg())).toBe(true);
    },
  );

  it('answers several ranges as multipart/byteranges that parse back into the right bytes', async () => {
    const r = await get(base, '/vod/seg0.m4s', { range: 'bytes=0-99, 1000-1999, -50' });
    expect(r.status).toBe(206);
    expect(r.headers['content-type']).toMatch(/^multipart\/byteranges; boundary=/);
    expect(Number(r.headers['content-length'])).toBe(r.body.length);
    const parts = parseMultipart(r.body, r.headers['content-type']!);
    expect(parts.map((p) => p.range)).toEqual(['bytes 0-99/300000', 'bytes 1000-1999/300000', 'bytes 299950-299999/300000']);
    expect(parts[0]!.data.equals(seg().subarray(0, 100))).toBe(true);
    expect(parts[1]!.data.equals(seg().subarray(1000, 2000))).toBe(true);
    expect(parts[2]!.data.equals(seg().subarray(299_950))).toBe(true);
    expect(parts.every((p) => p.type === 'video/mp4')).toBe(true);
  });

  it('If-Range: a matching strong ETag or exact date keeps the range, anything else sends 200', async () => {
    const full = await get(base, '/vod/seg0.m4s');
    const etag = full.headers['etag']!;
    const lm = full.headers['last-modified']!;
    expect((await get(base, '/vod/seg0.m4s', { range: 'bytes=0-9', 'if-range': etag })).status).toBe(206);
    expect((await get(base, '/vod/seg0.m4s', { range: 'bytes=0-9', 'if-range': lm })).status).toBe(206);
    expect((await get(base, '/vod/seg0.m4s', { range: 'bytes=0-9', 'if-range': '"other"' })).status).toBe(200);
    expect((await get(base, '/vod/seg0.m4s', { range: 'bytes=0-9', 'if-range': `W/${etag}` })).status).toBe(200);
    expect((await get(base, '/vod/seg0.m4s', { range: 'bytes=0-9', 'if-range': 'Thu, 01 Jan 1970 00:00:00 GMT' })).status).toBe(200);
  });
});

describe('conditional requests', () => {
  it('304 for If-None-Match and If-Modified-Since, 412 for If-Match and If-Unmodified-Since', async () => {
    const full = await get(base, '/vod/seg0.m4s');
    const etag = full.headers['etag']!;
    const lm = full.headers['last-modified']!;
    const nm = await get(base, '/vod/seg0.m4s', { 'if-none-match': etag });
    expect(nm.status).toBe(304);
    expect(nm.body.length).toBe(0);
    expect(nm.headers['etag']).toBe(etag);
    expect(nm.headers['cache-control']).toBe(full.headers['cache-control']);
    expect((await get(base, '/vod/seg0.m4s', { 'if-none-match': `W/${etag}` })).status).toBe(304);
    expect((await get(base, '/vod/seg0.m4s', { 'if-none-match': '"nope"' })).status).toBe(200);
    expect((await get(base, '/vod/seg0.m4s', { 'if-modified-since': lm })).status).toBe(304);
    expect((await get(base, '/vod/seg0.m4s', { 'if-modified-since': 'Thu, 01 Jan 1970 00:00:00 GMT' })).status).toBe(200);
    expect((await get(base, '/vod/seg0.m4s', { 'if-match': '"nope"' })).status).toBe(412);
    expect((await get(base, '/vod/seg0.m4s', { 'if-match': etag })).status).toBe(200);
    expect((await get(base, '/vod/seg0.m4s', { 'if-unmodified-since': 'Thu, 01 Jan 1970 00:00:00 GMT' })).status).toBe(412);
    // If-Match failing wins over a matching If-None-Match (RFC 9110 §13.2.2 order)
    expect((await get(base, '/vod/seg0.m4s', { 'if-match': '"nope"', 'if-none-match': etag })).status).toBe(412);
  });
});

describe('compression of playlists', () => {
  it.each([
    ['br', (b: Buffer) => brotliDecompressSync(b)],
    ['gzip', (b: Buffer) => gunzipSync(b)],
  ] as const)('%s round-trips to the identical playlist with its own ETag', async (enc, decode) => {
    const plain = await get(base, '/vod/main.m3u8');
    const r = await get(base, '/vod/main.m3u8', { 'accept-encoding': enc });
    expect(r.status).toBe(200);
    expect(r.headers['content-encoding']).toBe(enc);
    expect(r.headers['vary']).toContain('Accept-Encoding');
    expect(r.body.length).toBeLessThan(files.vod!.length);
    expect(decode(r.body).equals(files.vod!)).toBe(true);
    expect(r.headers['etag']).not.toBe(plain.headers['etag']);
    expect((await get(base, '/vod/main.m3u8', { 'accept-encoding': enc, 'if-none-match': r.headers['etag']! })).status).toBe(304);
  });

  it('sends identity without Accept-Encoding, for ranges, and never compresses media', async () => {
    const plain = await get(base, '/vod/main.m3u8');
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.headers['vary']).toContain('Accept-Encoding');
    expect(plain.body.equals(files.vod!)).toBe(true);
    const ranged = await get(base, '/vod/main.m3u8', { 'accept-encoding': 'br, gzip', range: 'bytes=0-6' });
    expect(ranged.status).toBe(206);
    expect(ranged.body.toString()).toBe('#EXTM3U');
    const media = await get(base, '/vod/seg0.m4s', { 'accept-encoding': 'br, gzip' });
    expect(media.headers['content-encoding']).toBeUndefined();
    expect(media.headers['vary']).toBeUndefined();
  });
});

describe('methods and CORS', () => {
  it.each(['POST', 'PUT', 'DELETE', 'PATCH'])('%s → 405 with Allow', async (method) => {
    const r = await get(base, '/vod/seg0.m4s', {}, method);
    expect(r.status).toBe(405);
    expect(r.headers['allow']).toBe('GET, HEAD, OPTIONS');
  });

  it('answers a CORS preflight for Range, the If-* headers and CMCD', async () => {
    const r = await get(base, '/vod/seg0.m4s', { origin: 'https://player.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'range, cmcd-request' }, 'OPTIONS');
    expect(r.status).toBe(204);
    expect(r.headers['access-control-allow-origin']).toBe('*');
    expect(r.headers['access-control-allow-methods']).toContain('GET');
    for (const h of ['Range', 'If-None-Match', 'If-Range', 'CMCD-Request', 'CMCD-Session']) expect(r.headers['access-control-allow-headers']).toContain(h);
    expect(r.headers['access-control-max-age']).toBe('86400');
  });
});

describe('path safety', () => {
  const hostile = [
    '/../secret.txt', '/vod/../../secret.txt', '/%2e%2e/secret.txt', '/%2E%2E/%2E%2E/secret.txt', '/.%2e/secret.txt',
    '/%2e%2e%2fsecret.txt', '/vod%2f..%2f..%2fsecret.txt', '/..%5csecret.txt', '/vod\\..\\..\\secret.txt', '/%252e%252e/secret.txt',
    '/%c0%ae%c0%ae/secret.txt', '/vod/seg0.m4s%00.m3u8', '/vod/%00', '/escape.ts', '/escapedir/secret.txt', '/..', '/vod/..',
    '/./vod/seg0.m4s', '/%2e/vod/seg0.m4s', '/.secret', '/vod/.hidden.ts', '/%2esecret', '//../secret.txt', '/vod/..%2f..%2fsecret.txt',
    '/..;/secret.txt', '/%', '/%zz/x', '/vod/%ff.ts',
  ];
  it.each(hostile)('%s does not escape the root', async (target) => {
    const r = await rawStatus(base, target);
    expect([400, 404]).toContain(r.status);
    expect(r.text).not.toContain('TOP-SECRET');
    expect(r.text).not.toContain('dotfile');
  });

  it('serves a symlink that stays inside the root', async () => {
    const r = await get(base, '/inside-link.ts');
    expect(r.status).toBe(200);
    expect(r.body.equals(files.ts!)).toBe(true);
  });

  it('414 for an over-long URL, 400 for malformed percent-encoding', async () => {
    expect((await rawStatus(base, '/' + 'a'.repeat(5000))).status).toBe(414);
    expect((await rawStatus(base, '/vod/%zz.ts')).status).toBe(400);
  });

  it('404 for missing files and for directories', async () => {
    expect((await get(base, '/vod/nope.ts')).status).toBe(404);
    expect((await get(base, '/vod/')).status).toBe(404);
    expect((await get(base, '/vod')).status).toBe(404);
  });
});

describe('freshness', () => {
  it('serves a file replaced by rename under a new ETag within the validity bound', async () => {
    const first = tree.write('fresh/seg.ts', random(50_000));
    const a = await get(base, '/fresh/seg.ts');
    expect(a.body.equals(first)).toBe(true);
    const next = random(50_000);
    writeFileSync(join(tree.dir, 'fresh/seg.ts.tmp'), next);
    renameSync(join(tree.dir, 'fresh/seg.ts.tmp'), join(tree.dir, 'fresh/seg.ts'));
    // within the validity window (200 ms in this suite) the new bytes are served
    const b = await eventually(async () => { const r = await get(base, '/fresh/seg.ts'); return r.body.equals(next) && r; }, { timeoutMs: 2000 });
    expect(b.headers['etag']).not.toBe(a.headers['etag']);
  });

  it('notices a playlist rewritten in place (new size and mtime)', async () => {
    tree.write('fresh/live.m3u8', livePlaylist(['a.ts']));
    const a = await get(base, '/fresh/live.m3u8');
    await new Promise((r) => setTimeout(r, 20));
    const updated = tree.write('fresh/live.m3u8', livePlaylist(['a.ts', 'b.ts']));
    const b = await eventually(async () => { const r = await get(base, '/fresh/live.m3u8'); return r.body.equals(updated) && r; }, { timeoutMs: 2000 });
    expect(b.headers['etag']).not.toBe(a.headers['etag']);
  });

  describe('a segment rewritten in place (truncated, then written: what `cp` does)', () => {
    // Its own server, whose validity window is long enough for three requests on a busy machine
    // and short enough to wait out; the cached object is trusted until the window ends.
    const VALIDITY = 2000;
    const rewrite = async (name: string, check: (r: Outcome, a: Outcome, next: Buffer, i: number) => void, faultsInUserSpace: boolean): Promise<void> => {
      const s = await startServer({ root: tree.dir, host: '127.0.0.1', port: 0, threads: 1, validityMs: VALIDITY, player: false });
      try {
        const old = tree.write(`inplace/${name}`, random(2 * 1024 * 1024));
        // The object is trusted from its load, somewhere between these two instants.
        const before = Date.now();
        const a = await attempt(s.url, `/inplace/${name}`);
        const after = Date.now();
        expect(a).toMatchObject({ status: 200, cut: undefined });
        expect(a.body.equals(old)).toBe(true);
        const next = random(512 * 1024);
        writeFileSync(join(tree.dir, 'inplace', name), next); // same inode: truncate, then write
        const faults = sigbusFaults();
        for (let i = 0; i < 3; i++) check(await attempt(s.url, `/inplace/${name}`), a, next, i);
        expect(Date.now() - before, 'the requests ran inside the validity window').toBeLessThan(VALIDITY);
        // Plain sockets are copied by the kernel, which meets a vanished page as EFAULT: no read in
        // user space faults. TLS and HTTP/2 read every page first, and take the fault there.
        if (faultsInUserSpace) expect(sigbusFaults()).toBeGreaterThan(faults);
        else expect(sigbusFaults()).toBe(faults);
        await new Promise((r) => setTimeout(r, after + VALIDITY + 50 - Date.now()));
        // Past the window the stat shows the change: the new bytes, whole, under their own ETag.
        const b = await attempt(s.url, `/inplace/${name}`);
        expect(b).toMatchObject({ status: 200, cut: undefined });
        expect(b.body.equals(next)).toBe(true);
        expect(b.headers['etag']).toBe(`"${crcHex(crc32cTable(next))}-${next.length.toString(16)}"`);
      } finally {
        await s.close(1000);
      }
    };

    it.skipIf(skipping('in-place rewrite under a mapping', native.kind === 'fallback' ? 'the fallback serves copies' : undefined))(
      'addon: each request while the old object is trusted is cut short where the pages vanished, never padded',
      () =>
        rewrite(
          'mapped.m4s',
          (r, a, next, i) => {
            if (overH2) {
              // Every page is read before the head goes out: the first request finds the fault
              // and its stream is reset without an answer; the poisoned object is dropped, so the
              // next ones load the file again and get the new bytes, whole, under their own ETag.
              if (i === 0) expect(r).toMatchObject({ status: 0, cut: expect.stringMatching(/NGHTTP2_INTERNAL_ERROR/) as string }); // not NO_ERROR: a client must not take it for an end
              else {
                expect(r).toMatchObject({ status: 200, cut: undefined, headers: { etag: `"${crcHex(crc32cTable(next))}-${next.length.toString(16)}"` } });
                expect(r.body.equals(next)).toBe(true);
              }
              return;
            }
            expect(r.cut).toBeDefined();
            // The head for the old object went out, then the kernel's copy of the mapping met the
            // pages past the new end of file (EFAULT) and the response was cut there.
            expect(r.status).toBe(200);
            expect(r.headers['etag']).toBe(a.headers['etag']);
            expect(r.body.length).toBeLessThanOrEqual(next.length);
          },
          overH2,
        ),
    );

    it.skipIf(skipping('in-place rewrite under a fallback copy', native.kind === 'addon' ? 'the addon maps files' : undefined))(
      'fallback: the copy taken at load is served whole under its own ETag until the window ends',
      () =>
        rewrite('copied.m4s', (r, a) => {
          expect(r).toMatchObject({ status: 200, cut: undefined });
          expect(r.headers['etag']).toBe(a.headers['etag']);
          expect(r.body.equals(a.body)).toBe(true);
        }, false),
    );
  });

  it('a deleted file becomes 404', async () => {
    tree.write('fresh/gone.ts', random(100));
    expect((await get(base, '/fresh/gone.ts')).status).toBe(200);
    const { unlinkSync } = await import('node:fs');
    unlinkSync(join(tree.dir, 'fresh/gone.ts'));
    await eventually(async () => (await get(base, '/fresh/gone.ts')).status === 404, { timeoutMs: 2000 });
  });
});

describe('operations', () => {
  it('concurrent cold requests for one file share one load', async () => {
    const bytes = tree.write('burst/seg.m4s', random(200_000));
    const before = await get(base, '/metrics');
    const misses = (t: string): number => Number(/^segd_cache_misses_total (\d+)/m.exec(t)?.[1]);
    const replies = await Promise.all(Array.from({ length: 12 }, () => get(base, '/burst/seg.m4s')));
    expect(replies.every((r) => r.status === 200 && r.body.equals(bytes))).toBe(true);
    const after = await get(base, '/metrics');
    expect(misses(after.body.toString()) - misses(before.body.toString())).toBe(1);
  });

  it('metrics count requests by status and kind, bytes and cache activity', async () => {
    const m0 = (await get(base, '/metrics')).body.toString();
    await get(base, '/vod/init.mp4');
    await get(base, '/vod/nothing-here.ts');
    const m1 = (await get(base, '/metrics')).body.toString();
    const val = (t: string, re: RegExp): number => Number(re.exec(t)?.[1] ?? 0);
    const ok = /^segd_requests_total\{status="200",kind="segment"\} (\d+)/m;
    const nf = /^segd_requests_total\{status="404",kind="segment"\} (\d+)/m;
    const bytes = /^segd_body_bytes_sent_total\{kind="segment"\} (\d+)/m;
    expect(val(m1, ok) - val(m0, ok)).toBe(1);
    expect(val(m1, nf) - val(m0, nf)).toBe(1);
    expect(val(m1, bytes) - val(m0, bytes)).toBe(1000);
    for (const name of ['segd_cache_hits_total', 'segd_cache_bytes', 'segd_pool_queue_depth', 'segd_pool_task_seconds_count', 'nodejs_eventloop_lag_p99_seconds', 'segd_cache_evictions_total']) {
      expect(m1).toMatch(new RegExp(`^${name}`, 'm'));
    }
  });

  // node:http drops a HEAD's body on the wire by itself, so only the byte count shows a HEAD that
  // went down the body path (and on a read tier entry, read the file for nothing).
  it.each([
    ['a whole segment', '/vod/seg0.m4s', {}, 200],
    ['one range', '/vod/seg0.m4s', { range: 'bytes=10-99' }, 206],
    ['several ranges', '/vod/seg0.m4s', { range: 'bytes=0-9,100-199' }, 206],
    ['a compressed playlist', '/vod/main.m3u8', { 'accept-encoding': 'br' }, 200],
  ] as const)('a HEAD of %s has the GET head, no body, and counts no body bytes', async (_what, path, headers, status) => {
    const got = await get(base, path, headers);
    const sent = await metric(base, 'segd_body_bytes_sent_total');
    const head = await get(base, path, headers, 'HEAD');
    expect(head.status).toBe(status);
    expect(head.headers['content-length']).toBe(got.headers['content-length']);
    expect(head.headers['content-encoding']).toBe(got.headers['content-encoding']);
    expect(head.body.length).toBe(0);
    expect(await metric(base, 'segd_body_bytes_sent_total')).toBe(sent);
  });

  it('healthz and readyz', async () => {
    expect((await get(base, '/healthz')).status).toBe(200);
    expect((await get(base, '/readyz')).status).toBe(200);
  });
});

describe('a second server', () => {
  it('evicts to stay within its cache size, and honours a CORS allow-list', async () => {
    const t = tempTree();
    const blobs = Array.from({ length: 6 }, (_, i) => t.write(`s${i}.m4s`, random(100_000)));
    const s = await startServer({ root: t.dir, host: '127.0.0.1', port: 0, threads: 1, cacheSize: '256KiB', corsOrigin: 'https://a.example', player: false });
    try {
      for (let round = 0; round < 2; round++) {
        for (const [i, b] of blobs.entries()) expect((await get(s.url, `/s${i}.m4s`)).body.equals(b)).toBe(true);
      }
      const m = (await get(s.url, '/metrics')).body.toString();
      expect(Number(/^segd_cache_evictions_total (\d+)/m.exec(m)?.[1])).toBeGreaterThan(0);
      expect(Number(/^segd_cache_bytes (\d+)/m.exec(m)?.[1])).toBeLessThanOrEqual(256 * 1024);
      const allowed = await get(s.url, '/s0.m4s', { origin: 'https://a.example' });
      expect(allowed.headers['access-control-allow-origin']).toBe('https://a.example');
      expect(allowed.headers['vary']).toContain('Origin');
      const denied = await get(s.url, '/s0.m4s', { origin: 'https://evil.example' });
      expect(denied.headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      await s.close(1000);
      t.remove();
    }
  });

  it('follows symlinks out of the root only when allowed', async () => {
    const t = tempTree();
    const out = tempTree('segd-outside-');
    const secret = out.write('x.ts', random(10));
    symlinkSync(join(out.dir, 'x.ts'), join(t.dir, 'x.ts'));
    mkdirSync(join(t.dir, 'd'));
    const s = await startServer({ root: t.dir, host: '127.0.0.1', port: 0, threads: 1, followSymlinks: true, player: false });
    const strict = await startServer({ root: t.dir, host: '127.0.0.1', port: 0, threads: 1, player: false });
    try {
      const r = await get(s.url, '/x.ts');
      expect(r.status).toBe(200);
      expect(r.body.equals(secret)).toBe(true);
      expect((await get(strict.url, '/x.ts')).status).toBe(404); // not allowed: hidden
    } finally {
      await s.close(1000);
      await strict.close(1000);
      t.remove();
      out.remove();
    }
  });
});
