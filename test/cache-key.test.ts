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
    // a token or CMCD anywhere in the query is stripped, not only in the first position
    ['v/seg.ts', 'a=1&token=x&b=2', 'v/seg.ts?a=1&b=2', '?a=1&b=2'],
    ['v/seg.ts', 'a=1&Cmcd=bl%3D1&b=2', 'v/seg.ts?a=1&b=2', '?a=1&b=2'],
    ['v/seg.ts', 'token=x', 'v/seg.ts', ''],
    // sorted by name, then by value, whatever order they came in
    ['v/seg.ts', 'x=2&x=1', 'v/seg.ts?x=1&x=2', '?x=1&x=2'],
    ['v/seg.ts', 'x=1&x=2', 'v/seg.ts?x=1&x=2', '?x=1&x=2'],
    ['v/seg.ts', 'c=1&a=3&b=2&a=1', 'v/seg.ts?a=1&a=3&b=2&c=1', '?a=1&a=3&b=2&c=1'],
    ['v/seg.ts', 'b=1&a=2', 'v/seg.ts?a=2&b=1', '?a=2&b=1'],
    ['v/seg.ts', 'a=2&b=1', 'v/seg.ts?a=2&b=1', '?a=2&b=1'],
    // decoded once and re-encoded in one canonical form: names too, and '=' inside a value
    ['v/seg.ts', 'a%20b=1&a+c=2', 'v/seg.ts?a%20b=1&a%20c=2', '?a%20b=1&a%20c=2'],
    ['v/seg.ts', 'q=b=c', 'v/seg.ts?q=b%3Dc', '?q=b%3Dc'],
    ['v/seg.ts', 'q=%3D&r=1+2+3', 'v/seg.ts?q=%3D&r=1%202%203', '?q=%3D&r=1%202%203'],
    ['v/seg.ts', '%zz=1', 'v/seg.ts?%25zz=1', '?%25zz=1'],
    ['v/seg.ts', '=1', 'v/seg.ts?=1', '?=1'], // an empty name, as URLSearchParams reads it
  ])('%s ? %s → %s', (path, query, key, originQuery) => {
    expect(cacheKey(path, query, strip)).toEqual({ key, originQuery });
  });

  it.each(DEFAULT_TOKEN_PARAMS)('strips the token parameter %s in any case', (name) => {
    expect(cacheKey('v/seg.ts', `${name.toUpperCase()}=x&lang=en`, strip)).toEqual({ key: 'v/seg.ts?lang=en', originQuery: '?lang=en' });
  });

  it('strips the names it is given, and CMCD always', () => {
    expect(cacheKey('v/seg.ts', 'sid=1&token=2&CMCD=br%3D1', new Set(['sid']))).toEqual({ key: 'v/seg.ts?token=2', originQuery: '?token=2' });
  });
});

describe('parseCmcd', () => {
  it('reads the query parameter and the headers', () => {
    expect(parseCmcd('CMCD=br%3D3200%2Cbs%2Cot%3Dv%2Csid%3D%226e2fb550-c457-11e9-bb97-0800200c9a66%22', {})).toEqual({ br: 3200, bs: true, ot: 'v', sid: '6e2fb550-c457-11e9-bb97-0800200c9a66' });
    expect(parseCmcd('', { 'cmcd-request': 'bl=21300', 'cmcd-session': 'sid="a,b"' })).toEqual({ bl: 21300, sid: 'a,b' });
    expect(parseCmcd('x=1', {})).toBeUndefined();
  });

  it.each([
    // the query parameter in any position and any case, each CMCD-* header
    ['x=1&Cmcd=bl%3D1', {}, { bl: 1 }],
    ['CMCDX=bl%3D1', {}, undefined],
    ['', { 'cmcd-object': 'br=3000' }, { br: 3000 }],
    ['', { 'cmcd-status': 'bs' }, { bs: true }],
    ['', { 'cmcd-request': 'bl=1', 'cmcd-object': 'br=2', 'cmcd-status': 'rtp=3', 'cmcd-session': 'sf=h' }, { bl: 1, br: 2, rtp: 3, sf: 'h' }],
    ['', { 'cmcd-request': ['bl=1', 'br=2'] }, undefined], // a repeated header is not CMCD
    ['CMCD=', {}, {}],
    // keys are lower-case letters, trimmed; other keys are skipped
    ['', { 'cmcd-request': ' bl = 5 ,Br=1,b1=2,1b=3,=4,mtp=6' }, { bl: 5, mtp: 6 }],
    // integers and decimals are numbers, quoted values strings (commas inside kept), tokens strings
    ['', { 'cmcd-request': 'dl=-5,mtp=1.25,ot=v,z=a12,st=*v:1/2,sid="a,b",cid="",nor="x y"' }, { dl: -5, mtp: 1.25, ot: 'v', z: 'a12', st: '*v:1/2', sid: 'a,b', cid: '', nor: 'x y' }],
    // a value that is none of these is malformed, and its pair skipped
    ['', { 'cmcd-request': 'bl=1,x=1.,y=12a,w=-,v=a"b",u="a"b",t=?0,s=a b' }, { bl: 1 }],
  ] as const)('%s %j → %j', (query, headers, expected) => {
    expect(parseCmcd(query, headers as Record<string, string | string[]>)).toEqual(expected);
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
    expect(crc32cHeader(-1)).toBe('/////w=='); // a signed 32-bit value is the same checksum
  });

  it('trims OWS, reads sha-512, and skips a digest of the wrong length', () => {
    const sha256 = Buffer.alloc(32, 7).toString('base64');
    const sha512 = Buffer.alloc(64, 9).toString('base64');
    expect(declaredDigests({ crc32c: ' 4waSgw== ', contentMd5: ` ${Buffer.alloc(16, 1).toString('base64')} ` })).toEqual({ crc32c: 0xe3069283, md5: Buffer.alloc(16, 1).toString('base64') });
    expect(declaredDigests({ reprDigest: `sha-512=:${sha512}:` })).toEqual({ sha512 });
    expect(declaredDigests({ reprDigest: `sha-512=:${sha256}:, sha-256=:${sha512}:` })).toEqual({});
    expect(declaredDigests({ reprDigest: `sha-256 = :${sha256}:, sha-512= :${sha512}:` })).toEqual({ sha256, sha512 }); // OWS around '=' tolerated
    expect(declaredDigests({ contentMd5: `x${Buffer.alloc(16, 1).toString('base64')}` })).toEqual({}); // not base64
    expect(declaredDigests({ contentMd5: `${Buffer.alloc(16, 1).toString('base64')}x` })).toEqual({});
  });
});
