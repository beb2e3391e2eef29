/**
 * Seeded random requests against a real server: odd paths, Range and If-* headers in every
 * shape. Whatever comes in, segd answers with a status from the expected set, never a 5xx, and
 * every byte it sends for a 200 or a single-range 206 is the file's byte at that offset.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../src/server/listen.js';
import { get, rawStatus } from './helpers/http.js';
import { random, tempTree, vodPlaylist, type TempTree } from './helpers/content.js';

/** mulberry32: a small deterministic PRNG, so a failure replays exactly. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let tree: TempTree;
let srv: RunningServer;
const files = new Map<string, Buffer>();

beforeAll(async () => {
  tree = tempTree();
  files.set('/v/seg.m4s', tree.write('v/seg.m4s', random(70_001)));
  files.set('/v/small.ts', tree.write('v/small.ts', random(517)));
  files.set('/v/one.ts', tree.write('v/one.ts', random(1)));
  files.set('/v/main.m3u8', tree.write('v/main.m3u8', vodPlaylist(['seg.m4s'])));
  srv = await startServer({ root: tree.dir, host: '127.0.0.1', port: 0, threads: 1, player: false });
});

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
    for (let i = 0; i < 1500; i++) {
      const path = pick(paths);
      const headers: Record<string, string> = {};
      if (rnd() < 0.7) headers.range = rangeHeader();
      if (rnd() < 0.2) headers['if-range'] = rnd() < 0.5 ? etagish() : dateish();
      if (rnd() < 0.15) headers['if-none-match'] = etagish();
      if (rnd() < 0.1) headers['if-match'] = etagish();
      if (rnd() < 0.1) headers['if-modified-since'] = dateish();
      if (rnd() < 0.1) headers['if-unmodified-since'] = dateish();
      if (rnd() < 0.3) headers['accept-encoding'] = pick(['br', 'gzip', 'br;q=0', '*', 'identity;q=0, *;q=0', 'gzip;q=abc']);
      const r = await get(srv.url, path, headers, rnd() < 0.2 ? 'HEAD' : 'GET');
      const where = `#${i} ${path} ${JSON.stringify(headers)}`;
      expect(ALLOWED.has(r.status), `${where} → ${r.status}`).toBe(true);
      seen.add(r.status);
      if (r.headers['content-encoding'] !== undefined || r.status === 304 || r.body.length === 0) continue;
      const file = files.get(path)!;
      if (r.status === 200) expect(r.body.equals(file), where).toBe(true);
      if (r.status === 206 && !String(r.headers['content-type']).startsWith('multipart/')) {
        const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(String(r.headers['content-range']));
        expect(m, where).not.toBeNull();
        expect(Number(m![3])).toBe(file.length);
        expect(r.body.equals(file.subarray(Number(m![1]), Number(m![2]) + 1)), where).toBe(true);
      }
    }
    // the generator reaches every branch, or this test proves little
    expect([...seen].sort()).toEqual([200, 206, 304, 412, 416]);
  });

  it('answers random request targets without a 5xx and without escaping the root', async () => {
    const rnd = prng(7);
    const alphabet = ['/', '.', '..', '%', '%2e', '%2f', '%5c', '%00', '\\', 'v', 'seg.m4s', '~', '%c0%af', '%25', ';', '?', '#', 'é', '%e9', '*'];
    for (let i = 0; i < 400; i++) {
      const target = '/' + Array.from({ length: 1 + Math.floor(rnd() * 8) }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join('');
      const r = await rawStatus(srv.url, target.replace(/[^\x21-\x7e]/g, (c) => encodeURIComponent(c)));
      expect([200, 206, 400, 404, 414], `${target} → ${r.status}`).toContain(r.status);
    }
    expect((await get(srv.url, '/healthz')).status).toBe(200);
  });
});
