import { describe, expect, it } from 'vitest';
import { cacheKey, DEFAULT_TOKEN_PARAMS, parseCmcd } from '../src/http/cache-key.js';
import { cacheStatus } from '../src/http/cache-status.js';
import { crc32cHeader, declaredDigests } from '../src/http/declared-digest.js';

const strip = new Set(DEFAULT_TOKEN_PARAMS);

describe('cacheKey', () => {
  it.each([
    ['v/seg.ts', '', 'v/seg.ts', ''],
    ['v/seg.ts', 'CMCD=sid%3D%22abc%22%2Cbr%3D3000', 'v/seg.ts', ''],
    ['v/seg.ts', 'token=abc&CMCD=bl%3D1000', 'v/seg.ts', ''],
    ['v/seg.ts', 'b=2&a=1', 'v/seg.ts?a=1&b=2', '?a=1&b=2'],
    ['v/seg.ts', 'a=1&b=2', 'v/seg.ts?a=1&b=2', '?a=1&b=2'],
    ['v/seg.ts', 'lang=en&Expires=99&Signature=x&Key-Pair-Id=k', 'v/seg.ts?lang=en', '?lang=en'],
    ['v/seg.ts', 'q=a%20b&q=a+b', 'v/seg.ts?q=a%20b&q=a%20b', '?q=a%20b&q=a%20b'],
    ['v/seg.ts', '&&', 'v/seg.ts', ''],
    ['v/seg.ts', 'bad=%zz', 'v/seg.ts?bad=%25zz', '?bad=%25zz'],
    ['v/seg.ts', 'flag', 'v/seg.ts?flag=', '?flag='],
  ])('%s ? %s → %s', (path, query, key, originQuery) => {
    expect(cacheKey(path, query, strip)).toEqual({ key, originQuery });
  });
});

describe('parseCmcd', () => {
  it('reads the query parameter and the headers', () => {
    expect(parseCmcd('CMCD=br%3D3200%2Cbs%2Cot%3Dv%2Csid%3D%226e2fb550-c457-11e9-bb97-0800200c9a66%22', {})).toEqual({ br: 3200, bs: true, ot: 'v', sid: '6e2fb550-c457-11e9-bb97-0800200c9a66' });
    expect(parseCmcd('', { 'cmcd-request': 'bl=21300', 'cmcd-session': 'sid="a,b"' })).toEqual({ bl: 21300, sid: 'a,b' });
    expect(parseCmcd('x=1', {})).toBeUndefined();
  });
});

describe('cacheStatus', () => {
  it.each([
    [{ hit: true }, 'segd; hit'],
    [{ fwd: 'miss', collapsed: true }, 'segd; fwd=miss; collapsed'],
    [{ fwd: 'miss', fwdStatus: 200, stored: true }, 'segd; fwd=miss; fwd-status=200; stored'],
    [{ fwd: 'stale', fwdStatus: 503 }, 'segd; fwd=stale; fwd-status=503'],
    [{ hit: true, ttl: -3, detail: 'stale-while-revalidate' }, 'segd; hit; ttl=-3; detail=stale-while-revalidate'],
  ] as const)('%j → %s', (s, v) => {
    expect(cacheStatus(s)).toBe(v);
  });
});

describe('declaredDigests', () => {
  it('reads S3 CRC32C, Content-MD5 and Repr-Digest, and skips what is not a digest of the bytes', () => {
    const sha = Buffer.alloc(32, 7).toString('base64');
    expect(declaredDigests({ crc32c: crc32cHeader(0xe3069283), contentMd5: Buffer.alloc(16, 1).toString('base64'), reprDigest: `sha-256=:${sha}:, unixsum=:AAA=:` })).toEqual({
      crc32c: 0xe3069283,
      md5: Buffer.alloc(16, 1).toString('base64'),
      sha256: sha,
    });
    expect(declaredDigests({ crc32c: 'AAAAAA==-3' })).toEqual({}); // a multipart composite checksum
    expect(declaredDigests({ crc32c: 'AAAA', contentMd5: 'short' })).toEqual({});
    expect(crc32cHeader(0xe3069283)).toBe('4waSgw==');
  });
});
