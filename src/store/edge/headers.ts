/**
 * Which of an origin's response headers the edge keeps with an object and passes on. Hop-by-hop
 * and connection headers, cookies and anything describing the origin's own transfer are not
 * part of the object; segd computes framing, ranges, CORS and validators itself.
 */

/** Kept with stored objects (in the cache file's trailer) and used to answer from them. */
export const STORED_HEADERS: readonly string[] = [
  'content-type',
  'cache-control',
  'expires',
  'date',
  'age',
  'last-modified',
  'etag', // the origin's validator, for conditional requests to the origin; never sent on
  'content-disposition',
  'content-language',
  'content-encoding', // only on objects passed through: stored objects are identity (see fill.ts)
  'x-amz-checksum-crc32c',
  'content-md5',
  'repr-digest',
];

/** Sent on to clients from an origin response or a stored object. */
export const FORWARDED_HEADERS: readonly string[] = ['content-type', 'cache-control', 'expires', 'last-modified', 'content-disposition', 'content-language', 'content-encoding'];

export function keptHeaders(raw: Readonly<Record<string, string | string[] | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of STORED_HEADERS) {
    const v = raw[name];
    if (v === undefined) continue;
    const value = Array.isArray(v) ? v.join(', ') : v;
    if (writable(name, value)) out[name] = value;
  }
  return out;
}

const WRITABLE = /^[\t\x20-\x7e\x80-\xff]*$/;
const ASCII = /^[\t\x20-\x7e]*$/;

/**
 * Whether node:http can send `value` as it came (undici hands values over as latin1 strings, one
 * character per byte). It sends visible ASCII, tabs, spaces and obs-text, but it re-encodes a
 * Content-Disposition (RFC 6266) and throws on one that is not ASCII: kept, such a header made
 * every answer of its object a 500. It is left out, like a header segd does not keep.
 */
export function writable(name: string, value: string): boolean {
  return (name === 'content-disposition' ? ASCII : WRITABLE).test(value);
}

/** A Content-Length that is one non-negative integer, else undefined (no length known). */
export function contentLength(raw: Readonly<Record<string, string | string[] | undefined>>): number | undefined {
  const v = raw['content-length'];
  if (typeof v !== 'string' || !/^\d+$/.test(v.trim())) return undefined;
  const n = Number(v.trim());
  return Number.isSafeInteger(n) ? n : undefined;
}
