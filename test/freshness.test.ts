/** RFC 9111 / RFC 5861 rules as pure functions: one row per case. */
import { describe, expect, it } from 'vitest';
import { ageHeader, freshnessOf, parseCacheControl, storability, usability, usableOnError, ttl } from '../src/http/freshness.js';

const T0 = Date.parse('Thu, 26 Nov 2026 10:00:00 GMT');
const at = (s: number): number => T0 + s * 1000;
const httpDate = (s: number): string => new Date(at(s)).toUTCString();

describe('parseCacheControl', () => {
  it.each([
    ['max-age=60, public', { 'max-age': '60', public: true }],
    ['Max-Age=60', { 'max-age': '60' }],
    ['no-cache="Set-Cookie", s-maxage=5', { 'no-cache': 'Set-Cookie', 's-maxage': '5' }],
    ['max-age=1, max-age=99', { 'max-age': '1' }], // the first occurrence wins
    ['stale-while-revalidate=30,stale-if-error=86400', { 'stale-while-revalidate': '30', 'stale-if-error': '86400' }],
    ['', {}],
    ['no-cache="a\\"b"', { 'no-cache': 'a"b' }], // a quoted-pair stands for its character
  ])('%s', (header, expected) => {
    expect(Object.fromEntries(parseCacheControl(header))).toEqual(expected);
  });
});

describe('storability', () => {
  it.each([
    [200, 'public, max-age=60', undefined, 'store'],
    [200, '', undefined, 'store'],
    [200, 'no-store', undefined, 'pass'],
    [200, 'private, max-age=60', undefined, 'pass'],
    [200, 'max-age=60', 'Accept-Encoding', 'store'],
    [200, 'max-age=60', 'Accept-Encoding, Origin', 'store'],
    [200, 'max-age=60', 'User-Agent', 'pass'],
    [200, 'max-age=60', '*', 'pass'],
    [200, 'max-age=60', 'Accept-Encoding, User-Agent', 'pass'], // one selecting header is enough
    [200, 'max-age=60', 'Accept-Encoding, ', 'store'], // an empty list element selects nothing
    [200, 'max-age=60', '', 'store'],
    [404, '', undefined, 'negative'],
    [410, 'max-age=5', undefined, 'negative'],
    [404, 'no-store', undefined, 'pass'],
    [206, '', undefined, 'pass'],
    [301, 'max-age=60', undefined, 'pass'],
    [403, '', undefined, 'pass'],
    [500, 'max-age=60', undefined, 'pass'],
    [503, '', undefined, 'pass'],
  ] as const)('%i %s (Vary %s) → %s', (status, cc, vary, expected) => {
    expect(storability(status, parseCacheControl(cc), vary)).toBe(expected);
  });
});

/** No fallback lifetime. */
const NONE = { seconds: 0, heuristic: true };

describe('freshness lifetime and age', () => {
  const times = { requestTime: at(0), responseTime: at(0) };
  it.each([
    ['s-maxage wins over max-age', { cacheControl: 's-maxage=10, max-age=99' }, 10, false],
    ['max-age', { cacheControl: 'max-age=99', expires: httpDate(5) }, 99, false],
    ['Expires minus Date', { cacheControl: '', date: httpDate(0), expires: httpDate(120) }, 120, false],
    ['an invalid Expires means stale', { cacheControl: '', date: httpDate(0), expires: '0' }, 0, false],
    ['Expires in the past', { cacheControl: '', date: httpDate(0), expires: httpDate(-5) }, 0, false],
    ['heuristic: a tenth since Last-Modified', { cacheControl: '', date: httpDate(0), lastModified: httpDate(-1000) }, 100, true],
    ['heuristic capped at a day', { cacheControl: '', date: httpDate(0), lastModified: httpDate(-100 * 86400) }, 86400, true],
    ['no information: the content fallback', { cacheControl: '' }, 7, true],
    ['a larger fallback wins over Last-Modified', { cacheControl: '', date: httpDate(0), lastModified: httpDate(-10) }, 7, true],
    ['malformed max-age is ignored', { cacheControl: 'max-age=abc' }, 7, true],
    ['a negative max-age is malformed', { cacheControl: 'max-age=-5' }, 7, true],
    ['max-age with trailing garbage is malformed', { cacheControl: 'max-age=5a' }, 7, true],
    ['max-age with leading garbage is malformed', { cacheControl: 'max-age=a5' }, 7, true],
    ['a live playlist: Last-Modified does not lengthen the fallback', { cacheControl: '', date: httpDate(0), lastModified: httpDate(-1000), live: true }, 7, true],
  ])('%s', (_name, h, lifetime, heuristic) => {
    const fallback = { seconds: 7, heuristic: !('live' in h) };
    const f = freshnessOf({ cacheControl: parseCacheControl(h.cacheControl), date: 'date' in h ? h.date : undefined, expires: 'expires' in h ? h.expires : undefined, lastModified: 'lastModified' in h ? h.lastModified : undefined }, times, fallback);
    expect(f.lifetime).toBe(lifetime);
    expect(f.heuristic).toBe(heuristic);
  });

  it('corrects the initial age for the Age header, the Date and the time in flight (§4.2.3)', () => {
    const cc = parseCacheControl('max-age=100');
    expect(freshnessOf({ cacheControl: cc, age: '30' }, { requestTime: at(0), responseTime: at(2) }, NONE).initialAge).toBe(32);
    expect(freshnessOf({ cacheControl: cc, date: httpDate(-50) }, { requestTime: at(0), responseTime: at(0) }, NONE).initialAge).toBe(50);
    expect(freshnessOf({ cacheControl: cc, date: httpDate(10) }, { requestTime: at(0), responseTime: at(0) }, NONE).initialAge).toBe(0); // clock skew: never negative
    const f = freshnessOf({ cacheControl: cc, age: '30' }, { requestTime: at(0), responseTime: at(0) }, NONE);
    expect(ageHeader(f, at(12.9))).toBe('42');
    expect(ttl(f, at(10))).toBe(60);
  });

  it.each([
    [' 30 ', 30],
    ['a30', 0], // Age = delta-seconds (RFC 9111 §5.1); anything else is ignored
    ['30a', 0],
    ['-30', 0],
    ['x 30', 0],
    ['30 x', 0],
  ])('Age %j counts as %i', (age, expected) => {
    const f = freshnessOf({ cacheControl: parseCacheControl('max-age=100'), age }, { requestTime: at(0), responseTime: at(0) }, NONE);
    expect(f.initialAge).toBe(expected);
  });
});

describe('usability', () => {
  const f = (cc: string) => freshnessOf({ cacheControl: parseCacheControl(cc) }, { requestTime: at(0), responseTime: at(0) }, NONE);
  it.each([
    ['max-age=10', 5, 'fresh'],
    ['max-age=10', 10, 'stale'],
    ['max-age=10, stale-while-revalidate=5', 12, 'stale-while-revalidate'],
    ['max-age=10, stale-while-revalidate=5', 15, 'stale'],
    ['max-age=10, stale-while-revalidate=5, must-revalidate', 12, 'stale'],
    ['max-age=10, no-cache', 1, 'stale'],
  ])('%s at %is → %s', (cc, t, expected) => {
    expect(usability(f(cc), at(t))).toBe(expected);
  });

  it.each([
    ['max-age=10', 100, 60, false], // past the operator's default
    ['max-age=10', 50, 60, true],
    ['max-age=10, stale-if-error=1000', 500, 60, true], // the origin's window wins
    ['max-age=10, stale-if-error=0', 11, 86400, false],
    ['max-age=10, must-revalidate', 11, 86400, false],
    ['s-maxage=10', 11, 86400, false], // s-maxage implies proxy-revalidate
    ['max-age=10, proxy-revalidate', 11, 86400, false], // a shared cache treats it as must-revalidate
    ['max-age=10, stale-if-error=5', 14, 86400, true],
    ['max-age=10, stale-if-error=5', 15, 86400, false], // the window is stale-if-error seconds, like freshness: strict
  ])('%s at %is with a default of %is: stale on error %s', (cc, t, def, expected) => {
    expect(usableOnError(f(cc), at(t), def)).toBe(expected);
  });
});
