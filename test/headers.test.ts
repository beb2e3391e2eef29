import { describe, expect, it } from 'vitest';
import { negotiateEncoding, type Encoding } from '../src/http/encoding.js';
import { cacheControlFor, DEFAULT_CACHE_POLICY, fallbackFor, type PlaylistFacts } from '../src/http/cache-control.js';
import { contentKindFor, contentTypeFor, edgeKindFor, type ContentKind } from '../src/http/content-type.js';
import { CorsPolicy } from '../src/http/cors.js';
import { parseSize } from '../src/config/size.js';
import { contentLength, keptHeaders, writable } from '../src/store/edge/headers.js';

describe('negotiateEncoding', () => {
  const table: [string | undefined, Encoding][] = [
    [undefined, 'identity'],
    ['', 'identity'],
    ['gzip', 'gzip'],
    ['br', 'br'],
    ['gzip, deflate, br', 'br'],
    ['gzip;q=1, br;q=0.5', 'gzip'],
    ['br;q=0, gzip', 'gzip'],
    ['br;q=0, gzip;q=0', 'identity'],
    ['*', 'br'],
    ['*;q=0', 'identity'],
    ['identity', 'identity'],
    ['GZIP', 'gzip'],
    ['x-gzip', 'gzip'],
    ['br;q=abc, gzip', 'gzip'],
    ['br;q=0, *', 'gzip'], // an explicit q=0 refuses br even when * accepts the rest
    ['br;q=0.5, *', 'gzip'], // gzip unnamed: it gets the weight of *
    ['gzip;q=0, br;q=0, *', 'identity'],
    ['gzip;foo=bar, br;q=0.5', 'gzip'], // only q is a weight
    ['br;Q=0.5, gzip;q=0.4', 'br'],
  ];
  it.each(table)('%s → %s', (h, e) => expect(negotiateEncoding(h)).toBe(e));
});

describe('cacheControlFor', () => {
  const vod: PlaylistFacts = { master: false, endList: true, targetDuration: 6 };
  const live: PlaylistFacts = { master: false, endList: false, targetDuration: 6 };
  const table: [ContentKind, PlaylistFacts | undefined, string][] = [
    ['segment', undefined, 'public, max-age=31536000, immutable'],
    ['playlist', vod, 'public, max-age=86400'],
    ['playlist', live, 'public, max-age=3'],
    ['playlist', { master: false, endList: false, targetDuration: 1 }, 'public, max-age=1'],
    ['playlist', { master: true, endList: false }, 'public, max-age=300'],
    ['playlist', undefined, 'no-cache'],
    ['other', undefined, 'public, max-age=60'],
  ];
  it.each(table)('%s %j → %s', (kind, pl, e) => expect(cacheControlFor(kind, pl, DEFAULT_CACHE_POLICY)).toBe(e));
  it.each([
    ['a segment', 'segment', undefined, 31_536_000, true],
    ['a live playlist', 'playlist', { master: false, endList: false, targetDuration: 6 }, 3, false],
    ['an unparsed playlist (no-cache)', 'playlist', undefined, 0, false],
    ['a VOD playlist', 'playlist', { master: false, endList: true, targetDuration: 6 }, 86_400, true],
    ['a master playlist', 'playlist', { master: true, endList: false }, 300, true],
    ['another file', 'other', undefined, 60, true],
  ] as const)('fallbackFor %s: the max-age it sends, and whether Last-Modified may lengthen it', (_name, kind, pl, seconds, heuristic) => {
    expect(fallbackFor(kind, pl, DEFAULT_CACHE_POLICY)).toStrictEqual({ seconds, heuristic });
  });
  it('live max-age follows the configured fraction', () => {
    expect(cacheControlFor('playlist', live, { ...DEFAULT_CACHE_POLICY, liveFraction: 1 })).toBe('public, max-age=6');
  });
});

describe('content types and kinds', () => {
  const table: [string, string, ContentKind][] = [
    ['a/master.m3u8', 'application/vnd.apple.mpegurl', 'playlist'],
    ['a/SEG.TS', 'video/mp2t', 'segment'],
    ['a/seg.m4s', 'video/mp4', 'segment'],
    ['a/init.mp4', 'video/mp4', 'segment'],
    ['a/audio.m4a', 'audio/mp4', 'segment'],
    ['a/audio.aac', 'audio/aac', 'segment'],
    ['a/v.cmfv', 'video/mp4', 'segment'],
    ['a/a.cmfa', 'audio/mp4', 'segment'],
    ['a/a.ec3', 'audio/eac3', 'segment'],
    ['a/subs.vtt', 'text/vtt; charset=utf-8', 'segment'],
    ['a/list.json', 'application/json', 'other'],
    ['a/noext', 'application/octet-stream', 'other'],
    ['a.dir/noext', 'application/octet-stream', 'other'],
    ['a/.m3u8', 'application/octet-stream', 'other'],
    // every type segd knows (RFC 8216 §4 for playlists and TS; CMAF, WebVTT, AES keys)
    ['a/v.m4v', 'video/mp4', 'segment'],
    ['a/t.cmft', 'application/mp4', 'segment'],
    ['a/a.mp3', 'audio/mpeg', 'segment'],
    ['a/a.ac3', 'audio/ac3', 'segment'],
    ['a/subs.webvtt', 'text/vtt; charset=utf-8', 'segment'],
    ['a/k.key', 'application/octet-stream', 'segment'],
    ['index.html', 'text/html; charset=utf-8', 'other'],
    ['a/app.js', 'text/javascript; charset=utf-8', 'other'],
    ['a/s.css', 'text/css; charset=utf-8', 'other'],
    ['a/i.svg', 'image/svg+xml', 'other'],
    ['a/i.png', 'image/png', 'other'],
    ['a/i.jpg', 'image/jpeg', 'other'],
  ];
  it.each(table)('%s', (path, type, kind) => {
    expect(contentTypeFor(path)).toBe(type);
    expect(contentKindFor(path)).toBe(kind);
  });
});

describe('edgeKindFor', () => {
  const table: [string, string | undefined, ContentKind][] = [
    ['a/seg.ts', undefined, 'segment'],
    ['a/seg.ts', 'video/mp2t', 'segment'],
    ['a/seg.ts', 'application/octet-stream', 'segment'],
    ['a/seg.ts', 'text/html; charset=utf-8', 'other'], // an error page under a segment's name
    ['a/seg.ts', 'TEXT/HTML', 'other'],
    ['a/seg.ts', 'text/plain', 'other'],
    ['a/seg.ts', 'application/json', 'other'],
    ['a/seg.ts', 'application/xml', 'other'],
    ['a/seg.ts', 'application/xhtml+xml', 'other'],
    ['a/seg.ts', 'application/vnd.example+html', 'other'],
    ['a/seg.ts', 'video/mp2t; note="text/plain"', 'segment'], // the type decides, not a parameter
    ['a/subs.vtt', 'text/vtt', 'segment'], // WebVTT is text and a segment
    ['a/master.m3u8', 'text/html', 'playlist'], // only segments are re-judged
    ['a/list.json', 'video/mp2t', 'other'],
  ];
  it.each(table)('%s as %s → %s', (path, type, kind) => expect(edgeKindFor(path, type)).toBe(kind));
});

describe('CorsPolicy', () => {
  it('allows any origin by default, with nothing per request', () => {
    const p = new CorsPolicy();
    expect(p.perRequest).toBe(false);
    expect(p.allowOrigin(undefined)).toBe('*');
    expect(p.staticHeaders()).toContain('Access-Control-Allow-Origin');
  });
  it('echoes only listed origins', () => {
    const p = new CorsPolicy(['https://a.example', 'https://B.example/']);
    expect(p.allowOrigin('https://a.example')).toBe('https://a.example');
    expect(p.allowOrigin('https://b.example')).toBe('https://b.example');
    expect(p.allowOrigin('https://evil.example')).toBeUndefined();
    expect(p.preflightHeaders('https://evil.example')).toBeUndefined();
    expect(p.preflightHeaders('https://a.example')).toContain('Range, If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since, If-Range, CMCD-Request, CMCD-Object, CMCD-Status, CMCD-Session, Content-Type');
  });

  const exposed = 'Content-Length, Content-Range, Content-Encoding, Accept-Ranges, ETag, Last-Modified, Cache-Control, Date, Age, Repr-Digest';
  const requestHeaders = 'Range, If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since, If-Range, CMCD-Request, CMCD-Object, CMCD-Status, CMCD-Session, Content-Type';
  it('sends the full header sets for *: nothing varies by Origin', () => {
    const p = new CorsPolicy();
    expect(p.staticHeaders()).toEqual(['Access-Control-Allow-Origin', '*', 'Access-Control-Expose-Headers', exposed]);
    expect(p.preflightHeaders(undefined)).toEqual([
      'Access-Control-Allow-Origin', '*',
      'Access-Control-Allow-Methods', 'GET, HEAD, OPTIONS',
      'Access-Control-Allow-Headers', requestHeaders,
      'Access-Control-Max-Age', '86400',
    ]);
  });
  it('sends the full header sets for an allow-list, with Vary: Origin (Fetch §3.2.5)', () => {
    const p = new CorsPolicy(['https://a.example//']);
    expect(p.perRequest).toBe(true);
    expect(p.allowOrigin('https://a.example')).toBe('https://a.example');
    expect(p.allowOrigin(undefined)).toBeUndefined();
    expect(p.staticHeaders()).toEqual(['Access-Control-Expose-Headers', exposed, 'Vary', 'Origin']);
    expect(p.preflightHeaders('https://a.example')).toEqual([
      'Access-Control-Allow-Origin', 'https://a.example',
      'Access-Control-Allow-Methods', 'GET, HEAD, OPTIONS',
      'Access-Control-Allow-Headers', requestHeaders,
      'Access-Control-Max-Age', '86400',
      'Vary', 'Origin',
    ]);
  });
});

describe('parseSize', () => {
  const table: [string, number][] = [['512MiB', 512 * 1024 ** 2], ['2G', 2 * 1024 ** 3], ['1000', 1000], ['1.5KiB', 1536], ['10mb', 10_000_000]];
  it.each(table)('%s', (t, n) => expect(parseSize(t)).toBe(n));
  it.each(['', 'lots', '-1MiB', '5XB'])('rejects %j', (t) => expect(() => parseSize(t)).toThrow(/size/));
});

describe('keptHeaders (what the edge stores of an origin response)', () => {
  it('keeps the object\'s own headers and none that describe the connection, the transfer or the origin', () => {
    const own = {
      'content-type': 'video/mp2t',
      'cache-control': 'max-age=60',
      expires: 'Thu, 01 Jan 2037 00:00:00 GMT',
      date: 'Mon, 01 Jan 2024 00:00:00 GMT',
      age: '5',
      'last-modified': 'Sun, 31 Dec 2023 00:00:00 GMT',
      etag: '"abc"',
      'content-disposition': 'attachment; filename="seg.ts"',
      'content-language': 'en',
      'content-encoding': 'identity',
      'x-amz-checksum-crc32c': 'AAAAAA==',
      'content-md5': '1B2M2Y8AsgTpgAmY7PhCfg==',
      'repr-digest': 'sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:',
    };
    const transfer = {
      'content-length': '10',
      'content-range': 'bytes 0-9/10',
      'transfer-encoding': 'chunked',
      connection: 'keep-alive',
      'keep-alive': 'timeout=5',
      'set-cookie': ['a=1'],
      vary: 'Origin',
      'accept-ranges': 'bytes',
      server: 'origin/1.0',
      'x-other': 'yes',
    };
    const kept = keptHeaders({ ...own, ...transfer });
    expect(Object.keys(kept).sort()).toEqual(Object.keys(own).sort());
    expect(kept).toEqual(own);
  });

  it('joins a repeated header with ", " and leaves out one that is absent', () => {
    const kept = keptHeaders({ 'cache-control': ['public', 'max-age=60'], etag: undefined, 'content-type': 'video/mp4' });
    expect(Object.keys(kept).sort()).toEqual(['cache-control', 'content-type']);
    expect(kept['cache-control']).toBe('public, max-age=60');
  });

  // Values as undici hands them over: latin1 strings, one character per byte.
  it.each([
    ['content-language', 'en\tfr', true],
    ['content-language', 'caf\u00e9', true], // obs-text is sent as it came
    ['content-language', 'a\u0001b', false], // a control character
    ['content-language', 'a\u0100b', false], // not one byte
    ['content-disposition', 'attachment; filename="x.ts"', true],
    ['content-disposition', 'attachment; filename="caf\u00e9.ts"', false], // node:http throws on it
    ['content-disposition', "attachment; filename*=UTF-8''caf%C3%A9.ts", true], // RFC 8187's form is ASCII
  ])('%s: %j is kept: %s', (name, value, kept) => {
    expect(writable(name, value)).toBe(kept);
    expect(keptHeaders({ [name]: value })).toEqual(kept ? { [name]: value } : {});
  });
});

describe('contentLength', () => {
  const table: [string | string[] | undefined, number | undefined][] = [
    ['0', 0],
    ['123', 123],
    [' 42 ', 42], // surrounding whitespace is the header's, not the number's
    ['9007199254740991', 9007199254740991],
    ['9007199254740993', undefined], // not exactly representable
    [undefined, undefined],
    ['', undefined],
    [' ', undefined],
    ['-1', undefined],
    ['+5', undefined],
    ['1.5', undefined],
    ['1e3', undefined],
    ['0x10', undefined],
    ['12abc', undefined],
    ['abc12', undefined],
    ['1 2', undefined],
    [['10'], undefined], // repeated (node joins duplicates, but a list is still not one length)
    [['10', '10'], undefined],
  ];
  it.each(table)('%j → %j', (v, n) => expect(contentLength({ 'content-length': v })).toBe(n));
  it('reads content-length, no other header', () => {
    expect(contentLength({ 'x-content-length': '5' })).toBeUndefined();
  });
});
