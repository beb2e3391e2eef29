/**
 * CORS for players on other origins. Everything that does not depend on the request's Origin is
 * computed once at start-up; with the `*` default the per-request cost is zero.
 */

export const EXPOSED_HEADERS = [
  'Content-Length', 'Content-Range', 'Content-Encoding', 'Accept-Ranges', 'ETag', 'Last-Modified',
  'Cache-Control', 'Date', 'Age', 'Repr-Digest',
].join(', ');

/** Request headers a player may send: ranges, revalidation and CMCD (CTA-5004). */
export const ALLOWED_REQUEST_HEADERS = [
  'Range', 'If-Match', 'If-None-Match', 'If-Modified-Since', 'If-Unmodified-Since', 'If-Range',
  'CMCD-Request', 'CMCD-Object', 'CMCD-Status', 'CMCD-Session', 'Content-Type',
].join(', ');

export const ALLOWED_METHODS = 'GET, HEAD, OPTIONS';
export const PREFLIGHT_MAX_AGE = '86400';

export class CorsPolicy {
  private readonly any: boolean;
  private readonly allowed: ReadonlySet<string>;

  /** `origins`: `*` (default) or a list of exact origins such as `https://player.example`. */
  constructor(origins: readonly string[] = ['*']) {
    this.any = origins.includes('*');
    this.allowed = new Set(origins.map((o) => o.replace(/\/+$/, '').toLowerCase()));
  }

  /** Headers that are the same on every response (for the `*` policy), as a flat [name, value] list. */
  staticHeaders(): string[] {
    return this.any
      ? ['Access-Control-Allow-Origin', '*', 'Access-Control-Expose-Headers', EXPOSED_HEADERS]
      : ['Access-Control-Expose-Headers', EXPOSED_HEADERS, 'Vary', 'Origin'];
  }

  /** The Allow-Origin value for this request's Origin, or undefined when none applies. */
  allowOrigin(origin: string | undefined): string | undefined {
    if (this.any) return '*';
    if (origin !== undefined && this.allowed.has(origin.toLowerCase())) return origin;
    return undefined;
  }

  /** Extra per-request headers (only for an allow-list). */
  get perRequest(): boolean {
    return !this.any;
  }

  preflightHeaders(origin: string | undefined): string[] | undefined {
    const allow = this.allowOrigin(origin);
    if (allow === undefined) return undefined;
    const headers = [
      'Access-Control-Allow-Origin', allow,
      'Access-Control-Allow-Methods', ALLOWED_METHODS,
      'Access-Control-Allow-Headers', ALLOWED_REQUEST_HEADERS,
      'Access-Control-Max-Age', PREFLIGHT_MAX_AGE,
    ];
    if (!this.any) headers.push('Vary', 'Origin');
    return headers;
  }
}
