// The header lists an object's answers are built from (src/serve/representation.ts), computed
// once per object: every 200, 206 and 304 of it carries exactly these.
import { describe as group, expect, it } from 'vitest';
import { describe, type DescribeOptions } from '../src/serve/representation.js';
import { DEFAULT_CACHE_POLICY } from '../src/http/cache-control.js';
import type { ObjectFacts } from '../src/store/objects.js';

const MTIME = Date.UTC(2026, 0, 2, 3, 4, 5, 678); // the milliseconds are not part of Last-Modified
const facts = (more: Partial<ObjectFacts> = {}): ObjectFacts => ({
  file: '/srv/vod/seg1.ts',
  size: 1000,
  mtimeMs: MTIME,
  ino: 1,
  crc32c: 0xabcdef01,
  blocks: undefined,
  playlist: undefined,
  gzip: undefined,
  br: undefined,
  ...more,
});
const opts = (more: Partial<DescribeOptions> = {}): DescribeOptions => ({ cachePolicy: DEFAULT_CACHE_POLICY, corsHeaders: ['Access-Control-Allow-Origin', '*'], ...more });
const playlist = { master: false, endList: true, targetDuration: 4 } as unknown as ObjectFacts['playlist'];

group('describe', () => {
  it('a segment: its 200, 206 and 304 header lists', () => {
    const r = describe(facts(), opts());
    const common = ['ETag', '"abcdef01-3e8"', 'Last-Modified', 'Fri, 02 Jan 2026 03:04:05 GMT', 'Cache-Control', 'public, max-age=31536000, immutable', 'Access-Control-Allow-Origin', '*'];
    expect(r).toMatchObject({ kind: 'segment', contentType: 'video/mp2t', size: 1000, br: undefined, gzip: undefined });
    expect(r.identity).toStrictEqual({
      encoding: 'identity',
      validators: { etag: '"abcdef01-3e8"', lastModifiedSec: Math.floor(MTIME / 1000) },
      body: undefined,
      length: 1000,
      full: ['Content-Type', 'video/mp2t', 'Content-Length', '1000', 'Accept-Ranges', 'bytes', ...common],
      partial: ['Accept-Ranges', 'bytes', ...common],
      notModified: common,
    });
    // Frozen: shared by every request of the object, and HTTP/2 keeps what it makes of them (h2-heads.ts).
    for (const list of [r.identity.full, r.identity.partial, r.identity.notModified]) expect(Object.isFrozen(list)).toBe(true);
  });

  it('a compressible playlist: every variant varies by Accept-Encoding, and the encoded ones say so in ETag and Content-Encoding', () => {
    const br = Buffer.alloc(300);
    const gzip = Buffer.alloc(400);
    const r = describe(facts({ file: '/srv/vod/index.m3u8', playlist, br, gzip }), opts({ reprDigest: 'sha-256=:x:' }));
    expect(r.kind).toBe('playlist');
    for (const v of [r.identity, r.br!, r.gzip!]) {
      for (const list of [v.full, v.partial, v.notModified]) expect(pairs(list).Vary).toBe('Accept-Encoding');
    }
    expect(r.br).toMatchObject({ encoding: 'br', body: br, length: 300, validators: { etag: '"abcdef01-3e8-br"' } });
    expect(r.gzip).toMatchObject({ encoding: 'gzip', body: gzip, length: 400, validators: { etag: '"abcdef01-3e8-gz"' } });
    expect(pairs(r.br!.full)).toMatchObject({ 'Content-Encoding': 'br', 'Content-Length': '300', ETag: '"abcdef01-3e8-br"' });
    expect(pairs(r.gzip!.full)).toMatchObject({ 'Content-Encoding': 'gzip', 'Content-Length': '400' });
    // The digest describes the identity bytes only.
    expect(pairs(r.identity.full)['Repr-Digest']).toBe('sha-256=:x:');
    expect(pairs(r.br!.full)['Repr-Digest']).toBeUndefined();
    expect(pairs(r.identity.full)['Content-Encoding']).toBeUndefined();
  });

  it.each([
    ['only br', { br: Buffer.alloc(1) }],
    ['only gzip', { gzip: Buffer.alloc(1) }],
  ])('a playlist with %s varies too', (_name, more) => {
    const r = describe(facts({ file: '/srv/a.m3u8', playlist, ...more }), opts());
    expect(pairs(r.identity.full).Vary).toBe('Accept-Encoding');
  });

  it('a playlist without compressed variants does not vary', () => {
    expect(pairs(describe(facts({ file: '/srv/a.m3u8', playlist }), opts()).identity.full).Vary).toBeUndefined();
  });

  it("an edge object: the origin's type, Last-Modified (or none), extra headers, and the kind from the path asked for", () => {
    const r = describe(facts({ file: '/cache/data/ab/abcdef' }), opts({ path: 'vod/seg1.m4s', contentType: 'video/iso.segment', lastModified: null, extra: ['Content-Language', 'en'], cacheControl: 'max-age=5' }));
    expect(r).toMatchObject({ kind: 'segment', contentType: 'video/iso.segment' });
    expect(r.identity.validators).toStrictEqual({ etag: '"abcdef01-3e8"', lastModifiedSec: undefined });
    expect(r.identity.notModified).toStrictEqual(['ETag', '"abcdef01-3e8"', 'Cache-Control', 'max-age=5', 'Content-Language', 'en', 'Access-Control-Allow-Origin', '*']);
    const dated = describe(facts(), opts({ lastModified: 'Sun, 31 Dec 2023 00:00:00 GMT' }));
    expect(pairs(dated.identity.full)['Last-Modified']).toBe('Sun, 31 Dec 2023 00:00:00 GMT');
    expect(dated.identity.validators.lastModifiedSec).toBe(Date.UTC(2023, 11, 31) / 1000);
  });
});

/** A flat [name, value, ...] list as an object (the names here are unique). */
function pairs(list: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < list.length; i += 2) out[list[i]!] = list[i + 1]!;
  return out;
}
