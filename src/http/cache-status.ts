/**
 * The Cache-Status response header (RFC 9211): how this cache handled the request, e.g.
 * `segd; hit`, `segd; fwd=miss; collapsed`, `segd; fwd=stale; fwd-status=503`.
 */

export type Forward = 'miss' | 'stale' | 'uri-miss' | 'partial' | 'bypass';

export interface CacheStatus {
  readonly hit?: boolean;
  /** Why the request went forward to the origin (or would have: a stale answer on error). */
  readonly fwd?: Forward;
  /** The origin's status for the forwarded request. */
  readonly fwdStatus?: number;
  /** The response was stored. */
  readonly stored?: boolean;
  /** The request waited on another request's forward instead of making its own. */
  readonly collapsed?: boolean;
  /** Remaining freshness in seconds (negative once stale). */
  readonly ttl?: number;
  /** segd's own detail: `stale-while-revalidate`, `origin-unreachable`, `origin-down`, ... */
  readonly detail?: string;
}

export const CACHE_NAME = 'segd';

export function cacheStatus(s: CacheStatus): string {
  let v = CACHE_NAME;
  if (s.hit) v += '; hit';
  if (s.fwd !== undefined) v += `; fwd=${s.fwd}`;
  if (s.collapsed) v += '; collapsed';
  if (s.fwdStatus !== undefined) v += `; fwd-status=${s.fwdStatus}`;
  if (s.stored) v += '; stored';
  if (s.ttl !== undefined) v += `; ttl=${s.ttl}`;
  // detail is a token or a string (§2.8); segd's details are tokens.
  if (s.detail !== undefined) v += `; detail=${s.detail}`;
  return v;
}
