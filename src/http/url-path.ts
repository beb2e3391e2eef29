/**
 * Request-target to a root-relative path, decoded exactly once and confined to the root.
 *
 * Policy: dot segments (raw or percent-encoded), encoded slashes or backslashes, NUL, and raw
 * backslashes are refused with 400, never normalised: a browser resolves dot segments before it
 * sends a URL, so only a hostile or broken client sends them. Dotfiles are hidden (404).
 */

export type PathResult =
  // path: e.g. 'ts/master.m3u8' (no leading or trailing slash, empty segments merged as nginx
  // does); trailingSlash: the target ended in '/', so it names a directory, not a file.
  | { readonly kind: 'ok'; readonly path: string; readonly trailingSlash: boolean }
  | { readonly kind: 'bad-request'; readonly reason: string }
  | { readonly kind: 'too-long' }
  | { readonly kind: 'hidden' };

export const DEFAULT_MAX_URL_LENGTH = 4096;

/** Characters that can appear in a path needing no decoding and no segment checks beyond '/.'. */
const PLAIN = /^\/[A-Za-z0-9_\-.~/+:@!$&'()*,;=]*$/;

export function resolveRequestPath(url: string, maxLength = DEFAULT_MAX_URL_LENGTH): PathResult {
  if (url.length > maxLength) return { kind: 'too-long' };
  let end = url.length;
  const q = url.indexOf('?');
  if (q >= 0) end = q;
  const hash = url.indexOf('#');
  if (hash >= 0 && hash < end) end = hash;
  let raw = url.slice(0, end);
  if (raw[0] !== '/') {
    // absolute-form (RFC 9112 §3.2.2), as a proxy sends it: a server must accept it.
    const m = /^https?:\/\/[^/]*(\/.*)?$/i.exec(raw);
    if (m === null) return { kind: 'bad-request', reason: 'request target must be an absolute path' };
    raw = m[1] ?? '/';
  }

  // Fast path: nothing to decode and no dot segment or dotfile anywhere.
  const trailingSlash = raw.length > 1 && raw.endsWith('/');
  if (PLAIN.test(raw) && !raw.includes('/.')) return { kind: 'ok', path: collapse(raw), trailingSlash };

  const segments: string[] = [];
  for (const seg of raw.split('/')) {
    if (seg === '') continue;
    let decoded: string;
    try {
      decoded = decodeURIComponent(seg);
    } catch {
      return { kind: 'bad-request', reason: 'malformed percent-encoding' };
    }
    if (decoded.includes('\0')) return { kind: 'bad-request', reason: 'NUL in path' };
    if (decoded.includes('/') || decoded.includes('\\')) {
      return { kind: 'bad-request', reason: 'encoded or backslash separator in path' };
    }
    if (decoded === '.' || decoded === '..') return { kind: 'bad-request', reason: 'dot segment in path' };
    if (decoded.startsWith('.')) return { kind: 'hidden' };
    segments.push(decoded);
  }
  return { kind: 'ok', path: segments.join('/'), trailingSlash };
}

function collapse(raw: string): string {
  if (!raw.includes('//') && !raw.endsWith('/')) return raw.slice(1);
  return raw.split('/').filter((s) => s !== '').join('/');
}
