import { describe, expect, it } from 'vitest';
import { contentRange, parseRange, unsatisfiedRange, type RangeResult } from '../src/http/range.js';

const ignore: RangeResult = { kind: 'ignore' };
const unsat: RangeResult = { kind: 'unsatisfiable' };
const r = (...pairs: [number, number][]): RangeResult => ({ kind: 'ranges', ranges: pairs.map(([start, end]) => ({ start, end })) });

// [header, size, expected]
const table: [string | undefined, number, RangeResult][] = [
  [undefined, 100, ignore],
  ['bytes=0-0', 100, r([0, 0])],
  ['bytes=0-99', 100, r([0, 99])],
  ['bytes=10-19', 100, r([10, 19])],
  ['bytes=90-200', 100, r([90, 99])], // last-pos clamped
  ['bytes=50-', 100, r([50, 99])], // open-ended
  ['bytes=99-', 100, r([99, 99])], // last byte
  ['bytes=-10', 100, r([90, 99])], // suffix
  ['bytes=-200', 100, r([0, 99])], // suffix longer than the file
  ['bytes=-0', 100, unsat], // zero suffix
  ['bytes=100-', 100, unsat],
  ['bytes=100-200', 100, unsat],
  ['bytes=0-1,5-6', 100, r([0, 1], [5, 6])],
  ['bytes=0-1, 200-300, 5-6', 100, r([0, 1], [5, 6])], // unsatisfiable members dropped
  ['bytes=200-300, 400-', 100, unsat],
  ['bytes= 1-2 ,,3-4', 100, r([1, 2], [3, 4])], // OWS and empty list elements
  ['BYTES=1-2', 100, r([1, 2])], // unit is case-insensitive
  ['items=0-5', 100, ignore], // unknown unit
  ['bytes=5-1', 100, ignore], // last < first: invalid
  ['bytes=abc', 100, ignore],
  ['bytes=1-2-3', 100, ignore],
  ['bytes=-', 100, ignore],
  ['bytes=', 100, ignore],
  ['bytes', 100, ignore],
  ['bytes=0x10-20', 100, ignore],
  ['bytes=+1-2', 100, ignore],
  ['bytes=1.5-2', 100, ignore],
  ['bytes=0-50,0-50,0-50', 100, ignore], // adds up past the length: whole body
  ['bytes=0-,0-', 100, ignore],
  ['bytes=0-10,20-30', 100, r([0, 10], [20, 30])],
  ['bytes=0-49,50-99', 100, r([0, 49], [50, 99])], // adds up to exactly the length: still ranges
  ['bytes=0-50,50-99', 100, ignore], // one byte past the length
  [' bytes=1-2', 100, r([1, 2])], // OWS around a field value is not part of it
  ['bytes=1-2, ,3-4', 100, r([1, 2], [3, 4])], // an empty list element with OWS (RFC 9110 §5.6.1)
  ['bytes=5', 100, ignore], // no dash: not a range spec
  ['bytes=10', 100, ignore],
  ['bytes=1 - 2', 100, r([1, 2])], // spaces inside a spec tolerated, as nginx does
  ['bytes=99999999999999999999-', 100, unsat], // overflow saturates, no wrap-around
  ['bytes=0-99999999999999999999', 100, r([0, 99])],
  ['bytes=-99999999999999999999', 100, r([0, 99])],
  ['bytes=0-0', 0, unsat], // empty representation
  ['bytes=-5', 0, ignore], // the only satisfiable form on empty: answer the empty 200
  [`bytes=${Array.from({ length: 17 }, (_, i) => `${i}-${i}`).join(',')}`, 100, ignore], // over the cap
  [`bytes=${Array.from({ length: 16 }, (_, i) => `${i}-${i}`).join(',')}`, 100, r(...Array.from({ length: 16 }, (_, i): [number, number] => [i, i]))],
];

describe('parseRange', () => {
  it.each(table)('%s on %i bytes', (header, size, expected) => {
    expect(parseRange(size, header)).toEqual(expected);
  });

  it('honours a custom cap', () => {
    expect(parseRange(100, 'bytes=0-1,3-4,6-7', 2)).toEqual(ignore);
    expect(parseRange(100, 'bytes=0-1,3-4', 2)).toEqual(r([0, 1], [3, 4]));
  });

  it('formats Content-Range', () => {
    expect(contentRange({ start: 0, end: 9 }, 100)).toBe('bytes 0-9/100');
    expect(unsatisfiedRange(100)).toBe('bytes */100');
  });
});
