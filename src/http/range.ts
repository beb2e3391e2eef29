/**
 * Range header parsing (RFC 9110 §14.1.2, §14.2), as a pure function over (size, header).
 *
 * The result separates "ignore the header and send 200" from "416": a syntactically invalid
 * header, an unknown unit, too many ranges, or ranges that add up to more than the file are
 * all served as a plain 200 (the limits nginx applies), while a well-formed header none of whose
 * ranges overlaps the file is unsatisfiable.
 */

/** An inclusive byte range, already clamped to the representation. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

export type RangeResult =
  | { readonly kind: 'ignore' }
  | { readonly kind: 'unsatisfiable' }
  | { readonly kind: 'ranges'; readonly ranges: readonly ByteRange[] };

export const DEFAULT_MAX_RANGES = 16;

const IGNORE: RangeResult = { kind: 'ignore' };
const UNSATISFIABLE: RangeResult = { kind: 'unsatisfiable' };
const DIGITS = /^[0-9]+$/;

/**
 * Parse a decimal position. Values past 2^53 cannot be byte offsets of anything we serve, so they
 * saturate to Infinity instead of losing precision (nginx guards the same overflow).
 */
function position(text: string): number {
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : Infinity;
}

export function parseRange(size: number, header: string | undefined, maxRanges = DEFAULT_MAX_RANGES): RangeResult {
  if (header === undefined) return IGNORE;
  const eq = header.indexOf('=');
  if (eq < 0 || header.slice(0, eq).trim().toLowerCase() !== 'bytes') return IGNORE;

  const ranges: ByteRange[] = [];
  let specs = 0;
  let total = 0;
  let sawSatisfiableSuffixOfEmpty = false;
  for (const raw of header.slice(eq + 1).split(',')) {
    const spec = raw.trim();
    if (spec === '') continue; // the list syntax allows empty elements
    if (++specs > maxRanges) return IGNORE;
    const dash = spec.indexOf('-');
    if (dash < 0) return IGNORE;
    const first = spec.slice(0, dash).trim();
    const last = spec.slice(dash + 1).trim();

    let start: number;
    let end: number;
    if (first === '') {
      // suffix-range: the last N bytes
      if (!DIGITS.test(last)) return IGNORE;
      const n = position(last);
      if (n === 0) continue; // a zero-length suffix is unsatisfiable
      if (size === 0) {
        sawSatisfiableSuffixOfEmpty = true;
        continue;
      }
      start = Math.max(0, size - n);
      end = size - 1;
    } else {
      if (!DIGITS.test(first) || (last !== '' && !DIGITS.test(last))) return IGNORE;
      start = position(first);
      end = last === '' ? Infinity : position(last);
      if (end < start) return IGNORE; // invalid int-range makes the whole set invalid
      if (start >= size) continue; // unsatisfiable, but others may still be
      end = Math.min(end, size - 1);
    }
    total += end - start + 1;
    ranges.push({ start, end });
  }

  if (specs === 0) return IGNORE;
  // RFC 9110: for an empty representation only a non-zero suffix range is satisfiable, and the
  // only sensible answer to it is the (empty) whole body.
  if (ranges.length === 0) return sawSatisfiableSuffixOfEmpty ? IGNORE : UNSATISFIABLE;
  // Overlapping or many small ranges that add up past the length cost more than the body itself:
  // serve the whole representation instead (RFC 9110 §14.2 allows it; nginx does the same).
  if (ranges.length > 1 && total > size) return IGNORE;
  return { kind: 'ranges', ranges };
}

/** `bytes START-END/SIZE` for a 206 part. */
export function contentRange(range: ByteRange, size: number): string {
  return `bytes ${range.start}-${range.end}/${size}`;
}

/** `bytes *\/SIZE` for a 416. */
export function unsatisfiedRange(size: number): string {
  return `bytes */${size}`;
}
