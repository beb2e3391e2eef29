import { describe, expect, it } from 'vitest';
import { resolveRequestPath, type PathResult } from '../src/http/url-path.js';

const ok = (path: string, trailingSlash = false): PathResult => ({ kind: 'ok', path, trailingSlash });

const table: [string, PathResult['kind'], string?, boolean?][] = [
  ['/ts/master.m3u8', 'ok', 'ts/master.m3u8'],
  ['/ts/master.m3u8?token=1&x=../../', 'ok', 'ts/master.m3u8'],
  ['/a%20b/c.ts', 'ok', 'a b/c.ts'],
  ['/%E2%82%AC.ts', 'ok', '€.ts'],
  ['//ts///seg.ts', 'ok', 'ts/seg.ts'],
  ['/a..b.ts', 'ok', 'a..b.ts'],
  ['/%252e%252e/x', 'ok', '%2e%2e/x'], // decoded once: a literal name, not a parent
  ['/', 'ok', ''],
  ['/ts/master.m3u8/', 'ok', 'ts/master.m3u8', true], // a directory name: the handler answers 404
  ['/a%20b/', 'ok', 'a b', true],
  ['//ts//', 'ok', 'ts', true],
  ['/../etc/passwd', 'bad-request'],
  ['/ts/../../etc/passwd', 'bad-request'],
  ['/%2e%2e/etc/passwd', 'bad-request'],
  ['/%2E%2E/etc/passwd', 'bad-request'],
  ['/.%2e/etc/passwd', 'bad-request'],
  ['/ts/%2e', 'bad-request'],
  ['/ts/.', 'bad-request'],
  ['/..%2fetc%2fpasswd', 'bad-request'],
  ['/ts%2f..%2f..%2fetc/passwd', 'bad-request'],
  ['/ts%5c..%5c..%5cetc', 'bad-request'],
  ['/ts\\..\\..\\etc\\passwd', 'bad-request'],
  ['/seg.ts%00.m3u8', 'bad-request'],
  ['/%', 'bad-request'],
  ['/%zz', 'bad-request'],
  ['/%c0%ae%c0%ae/etc', 'bad-request'], // overlong UTF-8 is not valid UTF-8
  ['/%ff', 'bad-request'],
  ['http://example.com/ts/master.m3u8', 'ok', 'ts/master.m3u8'], // absolute-form
  ['HTTPS://example.com', 'ok', ''],
  ['http://example.com/../etc/passwd', 'bad-request'],
  ['ftp://example.com/x', 'bad-request'],
  ['example.com/x', 'bad-request'],
  ['*', 'bad-request'],
  ['/.env', 'hidden'],
  ['/.segd/manifest.json', 'hidden'],
  ['/ts/.hidden/seg.ts', 'hidden'],
  ['/%2esecret', 'hidden'],
  ['/' + 'a'.repeat(5000), 'too-long'],
  ['/' + 'a'.repeat(4095), 'ok', 'a'.repeat(4095)], // exactly the limit
  ['/seg.ts#frag', 'ok', 'seg.ts'], // a fragment is not part of the path
  ['/seg.ts?q=1#frag', 'ok', 'seg.ts'],
  ['/seg.ts#frag?q=1', 'ok', 'seg.ts'],
  ['xhttp://example.com/seg.ts', 'bad-request'],
  ['http://example.com/a\nb', 'bad-request'],
];

describe('resolveRequestPath', () => {
  it.each(table)('%s → %s', (url, kind, path, trailingSlash) => {
    const result = resolveRequestPath(url);
    expect(result.kind).toBe(kind);
    if (path !== undefined) expect(result).toEqual(ok(path, trailingSlash));
  });
});

describe('resolveRequestPath reasons', () => {
  it.each([
    ['example.com/x', 'request target must be an absolute path'],
    ['/%zz', 'malformed percent-encoding'],
    ['/seg.ts%00', 'NUL in path'],
    ['/a%2fb', 'encoded or backslash separator in path'],
    ['/a\\b', 'encoded or backslash separator in path'],
    ['/a/%2e%2e/b', 'dot segment in path'],
  ])('%s → %s', (url, reason) => {
    expect(resolveRequestPath(url)).toEqual({ kind: 'bad-request', reason });
  });

  it('honours a custom length limit', () => {
    expect(resolveRequestPath('/abc', 4)).toEqual(ok('abc'));
    expect(resolveRequestPath('/abcd', 4)).toEqual({ kind: 'too-long' });
  });
});
