/**
 * HTTP caching rules for a shared cache (RFC 9111, with RFC 5861's stale-while-revalidate and
 * stale-if-error), as pure functions over header values and clock readings in milliseconds.
 *
 * Policy choices, each on the line it governs: segd is a shared cache, so `private` responses are
 * not stored and `s-maxage` wins; request directives (`Cache-Control: no-cache` from a player) are
 * ignored, as CDNs do, since one player must not be able to send every request to the origin.
 */

export type Directives = ReadonlyMap<string, string | true>;

/** Cache-Control into a map of lower-case directive names to values (`true` without a value). */
export function parseCacheControl(header: string | undefined): Directives {
  const out = new Map<string, string | true>();
  if (header === undefined) return out;
  // cache-directive = token [ "=" ( token / quoted-string ) ], comma-separated (RFC 9111 §5.2)
  for (const m of header.matchAll(/([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?:\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*)))?/g)) {
    const name = m[1]!.toLowerCase();
    if (!out.has(name)) out.set(name, m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? true));
  }
  return out;
}

/** A delta-seconds directive value, or undefined when absent or malformed. */
export function seconds(d: Directives, name: string): number | undefined {
  const v = d.get(name);
  if (typeof v !== 'string' || !/^\d+$/.test(v)) return undefined;
  return Math.min(Number(v), 2 ** 31); // §1.2.2: treat overflow as the largest value
}

/** What a shared cache may do with a response (§3). */
export type Storability = 'store' | 'negative' | 'pass';

/** Statuses stored briefly so a flood of requests for a missing object costs one origin fetch. */
const NEGATIVE_STATUSES = new Set([404, 410]);

export function storability(status: number, cc: Directives, vary: string | undefined): Storability {
  if (cc.has('no-store') || cc.has('private')) return 'pass';
  // segd fetches identity bytes and negotiates encodings itself, and answers CORS itself; any
  // other Vary selects representations by headers the cache key does not carry.
  if (vary !== undefined && vary.split(',').some((v) => !['accept-encoding', 'origin', ''].includes(v.trim().toLowerCase()))) return 'pass';
  if (status === 200) return 'store';
  if (NEGATIVE_STATUSES.has(status)) return 'negative';
  return 'pass';
}

export interface ResponseTimes {
  /** When the request that got this response was sent, ms since the epoch. */
  readonly requestTime: number;
  /** When its headers arrived, ms since the epoch. */
  readonly responseTime: number;
}

export interface FreshnessHeaders {
  readonly cacheControl: Directives;
  readonly date?: string | undefined;
  readonly expires?: string | undefined;
  readonly age?: string | undefined;
  readonly lastModified?: string | undefined;
}

/** How long a stored response is fresh, and what may be done once it is not. Times in seconds. */
export interface Freshness {
  /** Freshness lifetime (§4.2.1), or the heuristic one (§4.2.2) when the origin gave none. */
  readonly lifetime: number;
  readonly heuristic: boolean;
  /** Age when received, corrected for the time in flight (§4.2.3). */
  readonly initialAge: number;
  readonly responseTime: number; // ms since the epoch
  /** RFC 5861 windows past the lifetime, from the origin (0 when absent). */
  readonly staleWhileRevalidate: number;
  readonly staleIfError: number | undefined;
  /** must-revalidate, proxy-revalidate or s-maxage: never served stale, not even on error. */
  readonly mustRevalidate: boolean;
  /** no-cache: stored, but revalidated before every use. */
  readonly noCache: boolean;
}

function httpDate(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? undefined : ms;
}

/** Heuristic freshness is a tenth of the time since the last modification (§4.2.2), at most a day. */
const HEURISTIC_FRACTION = 0.1;
const HEURISTIC_MAX = 86_400;

/** The lifetime segd assigns by content to a response that states none (see cache-control.ts). */
export interface Fallback {
  readonly seconds: number;
  /**
   * Whether a Last-Modified may lengthen it (§4.2.2's heuristic). Not for a live playlist: it
   * changes at its segments' pace however long it was left alone, and a tenth of a long pause
   * would hold it for minutes once the stream resumes.
   */
  readonly heuristic: boolean;
}

export function freshnessOf(h: FreshnessHeaders, t: ResponseTimes, fallback: Fallback): Freshness {
  const cc = h.cacheControl;
  const date = httpDate(h.date) ?? t.responseTime;
  let lifetime: number | undefined = seconds(cc, 's-maxage') ?? seconds(cc, 'max-age');
  if (lifetime === undefined && h.expires !== undefined) {
    const expires = httpDate(h.expires);
    lifetime = expires === undefined ? 0 : Math.max(0, Math.floor((expires - date) / 1000)); // invalid Expires: already stale
  }
  const heuristic = lifetime === undefined;
  if (lifetime === undefined) {
    const lm = fallback.heuristic ? httpDate(h.lastModified) : undefined;
    const byModification = lm !== undefined && lm < date ? Math.min(HEURISTIC_MAX, Math.floor(((date - lm) / 1000) * HEURISTIC_FRACTION)) : 0;
    lifetime = Math.max(byModification, fallback.seconds);
  }
  // §4.2.3 age calculation
  const ageValue = h.age !== undefined && /^\s*\d+\s*$/.test(h.age) ? Number(h.age) : 0;
  const apparentAge = Math.max(0, (t.responseTime - date) / 1000);
  const correctedAgeValue = ageValue + (t.responseTime - t.requestTime) / 1000;
  return {
    lifetime,
    heuristic,
    initialAge: Math.max(apparentAge, correctedAgeValue),
    responseTime: t.responseTime,
    staleWhileRevalidate: seconds(cc, 'stale-while-revalidate') ?? 0,
    staleIfError: seconds(cc, 'stale-if-error'),
    mustRevalidate: cc.has('must-revalidate') || cc.has('proxy-revalidate') || cc.has('s-maxage'),
    noCache: cc.has('no-cache'),
  };
}

/** current_age (§4.2.3), in seconds. */
export function currentAge(f: Freshness, now: number): number {
  return f.initialAge + Math.max(0, (now - f.responseTime) / 1000);
}

/** The Age header value: whole seconds, rounded down. */
export function ageHeader(f: Freshness, now: number): string {
  return String(Math.floor(currentAge(f, now)));
}

export type Usability =
  | 'fresh'
  /** Stale, within stale-while-revalidate: serve it, revalidate in the background. */
  | 'stale-while-revalidate'
  /** Stale: revalidate first; serve it only if that fails and stale-if-error allows. */
  | 'stale';

export function usability(f: Freshness, now: number): Usability {
  if (f.noCache) return 'stale';
  const age = currentAge(f, now);
  if (age < f.lifetime) return 'fresh';
  if (!f.mustRevalidate && age < f.lifetime + f.staleWhileRevalidate) return 'stale-while-revalidate';
  return 'stale';
}

/**
 * Whether a stale response may stand in for an origin that failed (RFC 5861 §4): within the
 * origin's stale-if-error, else within the operator's default; never under must-revalidate.
 */
export function usableOnError(f: Freshness, now: number, operatorDefault: number): boolean {
  if (f.mustRevalidate) return false;
  return currentAge(f, now) < f.lifetime + (f.staleIfError ?? operatorDefault);
}

/** Remaining freshness in whole seconds (negative once stale), for Cache-Status `ttl`. */
export function ttl(f: Freshness, now: number): number {
  return Math.floor(f.lifetime - currentAge(f, now));
}
