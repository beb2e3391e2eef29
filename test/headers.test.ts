import { describe, expect, it } from 'vitest';
import { negotiateEncoding, type Encoding } from '../src/http/encoding.js';
import { cacheControlFor, DEFAULT_CACHE_POLICY, type PlaylistFacts } from '../src/http/cache-control.js';
import { contentKindFor, contentTypeFor, type ContentKind } from '../src/http/content-type.js';
import { CorsPolicy } from '../src/http/cors.js';
import { parseSize } from '../src/config/size.js';

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
  ];
  it.each(table)('%s', (path, type, kind) => {
    expect(contentTypeFor(path)).toBe(type);
    expect(contentKindFor(path)).toBe(kind);
  });
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
});

describe('parseSize', () => {
  const table: [string, number][] = [['512MiB', 512 * 1024 ** 2], ['2G', 2 * 1024 ** 3], ['1000', 1000], ['1.5KiB', 1536], ['10mb', 10_000_000]];
  it.each(table)('%s', (t, n) => expect(parseSize(t)).toBe(n));
  it.each(['', 'lots', '-1MiB', '5XB'])('rejects %j', (t) => expect(() => parseSize(t)).toThrow(/size/));
});
