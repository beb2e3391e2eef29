/**
 * The cache key of an edge request: the path plus the query parameters that select content.
 * CMCD (CTA-5004) and access tokens are per session, so they are kept out of the key (and out of
 * the origin request) and one cached object serves every session; CMCD is still parsed for logs.
 * The remaining parameters are sorted, so `?a=1&b=2` and `?b=2&a=1` are one object.
 */

export interface CacheKey {
  /** path, then `?` and the sorted content-selecting parameters when there are any. */
  readonly key: string;
  /** The query to send to the origin (`?...` or ''). */
  readonly originQuery: string;
}

/** Token parameters stripped by default: signed-URL and CDN-token names seen in the wild. */
export const DEFAULT_TOKEN_PARAMS: readonly string[] = ['token', 'hdnts', 'hdnea', 'policy', 'signature', 'key-pair-id', 'expires', 'x-amz-signature', 'x-amz-credential', 'x-amz-date', 'x-amz-expires', 'x-amz-signedheaders', 'x-amz-security-token'];

/**
 * `path`: the decoded, confined request path (no leading slash), `query`: the raw query string
 * without `?`; `strip`: lower-case parameter names to drop besides CMCD.
 */
export function cacheKey(path: string, query: string, strip: ReadonlySet<string>): CacheKey {
  if (query === '') return { key: path, originQuery: '' };
  const kept: [string, string][] = [];
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = decodeQueryPart(eq < 0 ? part : part.slice(0, eq));
    const lower = name.toLowerCase();
    if (lower === 'cmcd' || strip.has(lower)) continue;
    kept.push([name, eq < 0 ? '' : decodeQueryPart(part.slice(eq + 1))]);
  }
  if (kept.length === 0) return { key: path, originQuery: '' };
  kept.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  const q = kept.map(([n, v]) => `${encodeURIComponent(n)}=${encodeURIComponent(v)}`).join('&');
  return { key: `${path}?${q}`, originQuery: `?${q}` };
}

function decodeQueryPart(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s; // malformed escapes stay literal: the key must still be deterministic
  }
}

/** A token value (RFC 8941 §3.3.4, which CMCD's values follow): `ot=v`, `sf=h`. */
const CMCD_TOKEN = /^[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*$/;

/**
 * CMCD data of a request, from the `CMCD` query parameter or the CMCD-* headers (CTA-5004 §2):
 * `key=value` pairs, a bare key meaning true, strings quoted. Malformed pairs are skipped.
 */
export function parseCmcd(query: string, headers: Readonly<Record<string, string | string[] | undefined>>): Record<string, string | number | boolean> | undefined {
  const parts: string[] = [];
  for (const p of query.split('&')) {
    if (p.slice(0, 5).toLowerCase() === 'cmcd=') parts.push(decodeQueryPart(p.slice(5)));
  }
  for (const h of ['cmcd-request', 'cmcd-object', 'cmcd-status', 'cmcd-session']) {
    const v = headers[h];
    if (typeof v === 'string') parts.push(v);
  }
  if (parts.length === 0) return undefined;
  const out: Record<string, string | number | boolean> = {};
  for (const pair of parts.join(',').match(/(?:[^,"]|"[^"]*")+/g) ?? []) {
    const eq = pair.indexOf('=');
    const k = (eq < 0 ? pair : pair.slice(0, eq)).trim();
    if (!/^[a-z]+$/.test(k)) continue;
    if (eq < 0) {
      out[k] = true;
      continue;
    }
    const raw = pair.slice(eq + 1).trim();
    if (/^"[^"]*"$/.test(raw)) out[k] = raw.slice(1, -1);
    else if (/^-?\d+(\.\d+)?$/.test(raw)) out[k] = Number(raw);
    else if (CMCD_TOKEN.test(raw)) out[k] = raw;
  }
  return out;
}
