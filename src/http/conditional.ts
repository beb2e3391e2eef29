/**
 * Conditional requests (RFC 9110 §13), as pure functions over the request's header values and
 * the selected representation's validators. Evaluation order is §13.2.2 exactly:
 * If-Match, else If-Unmodified-Since; then If-None-Match, else If-Modified-Since; If-Range last.
 */

export interface Validators {
  /** A strong entity tag, quotes included: `"e3069283-9"`; undefined while an edge fill's checksum is unknown. */
  readonly etag: string | undefined;
  /** Last modification time in whole seconds since the epoch (HTTP dates have no finer grain); undefined when unknown. */
  readonly lastModifiedSec: number | undefined;
}

export interface ConditionalHeaders {
  readonly ifMatch?: string | undefined;
  readonly ifNoneMatch?: string | undefined;
  readonly ifModifiedSince?: string | undefined;
  readonly ifUnmodifiedSince?: string | undefined;
}

export type Precondition = 'proceed' | 'not-modified' | 'precondition-failed';

interface EntityTag {
  readonly weak: boolean;
  readonly opaque: string; // quotes included
}

/** Parse an entity-tag list; `*` is returned as null. Malformed members are skipped. */
function parseTags(header: string): EntityTag[] | null {
  if (header.trim() === '*') return null;
  const tags: EntityTag[] = [];
  // entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE; etagc excludes DQUOTE, so a regex scan is exact.
  for (const m of header.matchAll(/(W\/)?("[^"]*")/g)) {
    tags.push({ weak: m[1] !== undefined, opaque: m[2]! });
  }
  return tags;
}

/** A representation without an entity tag matches no tag (only `*`, handled by the callers). */
const NO_TAG: EntityTag = { weak: true, opaque: '' };

function opaqueOf(etag: string | undefined): EntityTag {
  if (etag === undefined) return NO_TAG;
  const weak = etag.startsWith('W/');
  return { weak, opaque: weak ? etag.slice(2) : etag };
}

/** Strong comparison (§8.8.3.2): both strong and identical. */
function strongMatch(list: EntityTag[], current: EntityTag): boolean {
  return !current.weak && list.some((t) => !t.weak && t.opaque === current.opaque);
}

/** Weak comparison: opaque tags identical, weakness ignored. */
function weakMatch(list: EntityTag[], current: EntityTag): boolean {
  return current !== NO_TAG && list.some((t) => t.opaque === current.opaque);
}

/** An HTTP-date in whole seconds, or undefined when it does not parse (the header is then ignored). */
export function parseHttpDate(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : Math.floor(ms / 1000);
}

/**
 * Evaluate the preconditions of a GET or HEAD on an existing representation.
 * (segd serves no state-changing methods, so If-None-Match never yields 412 here.)
 */
export function evaluatePreconditions(h: ConditionalHeaders, v: Validators): Precondition {
  const current = opaqueOf(v.etag);

  // Step 1 / 2: If-Match, or If-Unmodified-Since when If-Match is absent.
  if (h.ifMatch !== undefined) {
    const tags = parseTags(h.ifMatch);
    if (tags !== null && !strongMatch(tags, current)) return 'precondition-failed';
  } else {
    const since = parseHttpDate(h.ifUnmodifiedSince);
    // Without a modification time the condition cannot be evaluated: ignored (§13.1.4).
    if (since !== undefined && v.lastModifiedSec !== undefined && v.lastModifiedSec > since) return 'precondition-failed';
  }

  // Step 3 / 4: If-None-Match, or If-Modified-Since when If-None-Match is absent.
  if (h.ifNoneMatch !== undefined) {
    if (h.ifNoneMatch === v.etag) return 'not-modified'; // the common revalidation, no parsing
    const tags = parseTags(h.ifNoneMatch);
    if (tags === null || weakMatch(tags, current)) return 'not-modified';
  } else {
    const since = parseHttpDate(h.ifModifiedSince);
    if (since !== undefined && v.lastModifiedSec !== undefined && v.lastModifiedSec <= since) return 'not-modified';
  }
  return 'proceed';
}

/**
 * If-Range (§13.1.5): true when the Range header may be honoured. A strong entity tag must match
 * strongly; a date must equal Last-Modified exactly; a weak tag or garbage never matches.
 */
export function ifRangeAllows(ifRange: string | undefined, v: Validators): boolean {
  if (ifRange === undefined) return true;
  const value = ifRange.trim();
  if (value.startsWith('"') || value.startsWith('W/')) {
    const tags = parseTags(value);
    return tags !== null && tags.length === 1 && strongMatch(tags, opaqueOf(v.etag));
  }
  const date = parseHttpDate(value);
  return date !== undefined && v.lastModifiedSec !== undefined && date === v.lastModifiedSec;
}
