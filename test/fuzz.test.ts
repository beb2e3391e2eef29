/**
 * Seeded random requests against a real server: odd paths, Range and If-* headers in every
 * shape, GET and HEAD. Whatever comes in, segd answers with a status from the expected set, never
 * a 5xx; every byte it sends (whole, compressed, one range or several) is the file's byte at that
 * offset; a HEAD carries exactly the headers of the same GET; and no target reaches outside the root.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../src/server/listen.js';
import { startServer } from './helpers/transport.js';
import { gunzipSync, brotliDecompressSync } from 'node:zlib';
import { get, parseMultipart, rawStatus, type Reply } from './helpers/http.js';
import { prng } from '../bench/prng.js';
import { random, tempTree, vodPlaylist, type TempTree } from './helpers/content.js';


let tree: TempTree;
let srv: RunningServer;
const files = new Map<string, Buffer>();

const SECRET = 'TOP-SECRET-OUTSIDE-THE-ROOT';

beforeAll(async () => {
  tree = tempTree();
  tree.write('secret.txt', SECRET); // beside the served root, reachable only by escaping it
  files.set('/v/seg.m4s', tree.write('www/v/seg.m4s', random(70_001)));
  files.set('/v/small.ts', tree.write('www/v/small.ts', random(517)));
  files.set('/v/one.ts', tree.write('www/v/one.ts', random(1)));
  files.set('/v/main.m3u8', tree.write('www/v/main.m3u8', vodPlaylist(['seg.m4s'])));
  srv = await startServer({ root: `${tree.dir}/www`, host: '127.0.0.1', port: 0, threads: 1, player: false });
});

/** The bytes a 200 or 206 carries, checked against the file; returns how many parts it had. */
function expectExactBytes(r: Reply, file: Buffer, where: string): number {
  const encoding = r.headers['content-encoding'];
  const body = encoding === 'br' ? brotliDecompressSync(r.body) : encoding === 'gzip' ? gunzipSync(r.body) : r.body;
  if (r.status === 200) {
    expect(body.equals(file), where).toBe(true);
    return 1;
  }
  const type = String(r.headers['content-type']);
  const parts = type.startsWith('multipart/byteranges')
    ? parseMultipart(r.body, type).map((p) => ({ range: p.range, data: p.data }))
    : [{ range: String(r.headers['content-range']), data: r.body }];
  expect(parts.length, where).toBeGreaterThan(0);
  for (const p of parts) {
    const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(p.range);
    expect(m, `${where} part ${p.range}`).not.toBeNull();
    expect(Number(m![3]), where).toBe(file.length);
    expect(p.data.equals(file.subarray(Number(m![1]), Number(m![2]) + 1)), `${where} part ${p.range}`).toBe(true);
  }
  return parts.length;
}

afterAll(async () => {
  await srv?.close(1000);
  tree?.remove();
});

const ALLOWED = new Set([200, 206, 304, 400, 404, 412, 414, 416]);

describe('fuzz', () => {
  it('answers 1500 random requests with sane statuses and exact bytes', async () => {
    const rnd = prng(20261126);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const int = (n: number): number => Math.floor(rnd() * n);
    const paths = [...files.keys()];
    const num = (): string => pick([String(int(80_000)), String(int(10)), '', '-1', '99999999999999999999', '0x10', ' 5', '1e3']);
    const rangeHeader = (): string =>
      pick(['bytes=', 'Bytes=', 'bytes =', 'items=']) +
      Array.from({ length: 1 + int(4) }, () => pick([`${num()}-${num()}`, `-${num()}`, `${num()}-`, num(), ''])).join(pick([',', ', ', ',,']));
    const etagish = (): string => pick(['*', '"x"', 'W/"x"', '"', '""', 'garbage', '"a", W/"b"', '\t"c" ,']);
    const dateish = (): string => pick(['Thu, 01 Jan 1970 00:00:00 GMT', 'Fri, 31 Dec 9999 23:59:59 GMT', 'yesterday', '', new Date().toUTCString()]);

    const seen = new Set<number>();
    let multipart = 0;
    let heads = 0;
    for (let i = 0; i < 1500; i++) {
      const path = pick(paths);
      const headers: Record<string, string> = {};
      if (rnd() < 0.7) headers.range = rangeHeader();
      else if (rnd() < 0.3) headers.range = `bytes=${int(100)}-${100 + int(100)},${300 + int(100)}-${500 + int(100)}`; // well-formed, several
      if (rnd() < 0.2) headers['if-range'] = rnd() < 0.5 ? etagish() : dateish();
      if (rnd() < 0.15) headers['if-none-match'] = etagish();
      if (rnd() < 0.1) headers['if-match'] = etagish();
      if (rnd() < 0.1) headers['if-modified-since'] = dateish();
      if (rnd() < 0.1) headers['if-unmodified-since'] = dateish();
      if (rnd() < 0.3) headers['accept-encoding'] = pick(['br', 'gzip', 'br;q=0', '*', 'identity;q=0, *;q=0', 'gzip;q=abc']);
      const r = await get(srv.url, path, headers);
      const where = `#${i} ${path} ${JSON.stringify(headers)}`;
      expect(ALLOWED.has(r.status), `${where} → ${r.status}`).toBe(true);
      seen.add(r.status);
      if (rnd() < 0.2) {
        // HEAD: the headers of the same GET, no body
        heads++;
        const h = await get(srv.url, path, headers, 'HEAD');
        expect(h.status, where).toBe(r.status);
        expect(h.body.length, where).toBe(0);
        const strip = (x: Reply['headers']): Record<string, unknown> => {
          const { date: _date, 'content-type': type, ...rest } = x;
          // a multipart boundary is per process, not per request: the same for both
          return { ...rest, type };
        };
        expect(strip(h.headers), where).toEqual(strip(r.headers));
      }
      if (r.status !== 200 && r.status !== 206) continue;
      if (expectExactBytes(r, files.get(path)!, where) > 1) multipart++;
    }
    // the generator reaches every branch, or this test proves little
    expect(multipart).toBeGreaterThan(20);
    expect(heads).toBeGreaterThan(200);
    // the generator reaches every branch, or this test proves little
    expect([...seen].sort()).toEqual([200, 206, 304, 412, 416]);
  });

  it('answers random request targets without a 5xx and without escaping the root', async () => {
    const rnd = prng(7);
    const alphabet = ['/', '.', '..', '%', '%2e', '%2f', '%5c', '%00', '\\', 'v', 'v/seg.m4s', 'secret.txt', '~', '%c0%af', '%25', ';', '?', '#', 'é', '%e9', '*'];
    const seen = new Set<number>();
    for (let i = 0; i < 400; i++) {
      const target = '/' + Array.from({ length: 1 + Math.floor(rnd() * 8) }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join('');
      const r = await rawStatus(srv.url, target.replace(/[^\x21-\x7e]/g, (c) => encodeURIComponent(c)));
      expect([200, 206, 400, 404, 414], `${target} → ${r.status}`).toContain(r.status);
      expect(r.text, target).not.toContain(SECRET);
      seen.add(r.status);
    }
    expect([...seen].sort()).toEqual([200, 400, 404]); // reached files, refusals and misses alike
    expect((await get(srv.url, '/healthz')).status).toBe(200);
  });
});
