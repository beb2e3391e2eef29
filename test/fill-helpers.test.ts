// The fill's pure helpers (src/store/edge/fill.ts): the validator a resume pins with If-Range, and
// the rest of a batch after a short writev. The fill itself is driven through real origins in the
// edge tests.
import { describe, expect, it } from 'vitest';
import { sliceFrom, validatorFor } from '../src/store/edge/fill.js';

const LM = 'Wed, 01 Jan 2025 00:00:00 GMT';

describe('validatorFor (If-Range needs a strong validator, RFC 9110 §13.1.5)', () => {
  const rows: Array<[Record<string, string>, string | undefined]> = [
    [{ etag: '"v1"', 'last-modified': LM }, '"v1"'],
    [{ etag: 'W/"v1"', 'last-modified': LM }, LM], // a weak ETag cannot pin bytes
    [{ etag: 'W/"v1"' }, undefined],
    [{ 'last-modified': LM }, LM],
    [{}, undefined],
  ];
  it.each(rows)('%j → %s', (headers, expected) => {
    expect(validatorFor(headers)).toBe(expected);
  });
});

describe('sliceFrom', () => {
  const batch = [Buffer.from('abc'), Buffer.from('de'), Buffer.from('fghi')];
  const rows: Array<[number, string[]]> = [
    [0, ['abc', 'de', 'fghi']],
    [1, ['bc', 'de', 'fghi']],
    [3, ['de', 'fghi']], // a buffer written whole is dropped, not kept empty
    [4, ['e', 'fghi']],
    [5, ['fghi']],
    [8, ['i']],
    [9, []],
  ];
  it.each(rows)('from byte %d', (skip, expected) => {
    expect(sliceFrom(batch, skip).map((b) => b.toString())).toEqual(expected);
  });
});
