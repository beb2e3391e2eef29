/**
 * Which origin failures are worth another try, and how long to wait first: exponential backoff
 * with full jitter (each wait uniform in [0, min(cap, base·2^attempt)]), so the edges of a fleet
 * do not retry a recovering origin in lockstep.
 */

export interface RetryOptions {
  /** Further attempts after the first. */
  readonly retries: number;
  readonly baseMs: number;
  readonly capMs: number;
}

export const DEFAULT_RETRY: RetryOptions = { retries: 2, baseMs: 50, capMs: 1_000 };

export function backoffMs(attempt: number, o: RetryOptions, random: () => number = Math.random): number {
  return Math.floor(random() * Math.min(o.capMs, o.baseMs * 2 ** attempt));
}

/** Network errors that mean the request may not have reached the origin, or broke on the way. */
const RETRYABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN',
  'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED',
]);

/** A GET is idempotent: retried after a network error or a 5xx, never after a 4xx (a 404 is an answer). */
export function retryable(outcome: { status: number } | { code: string | undefined }): boolean {
  if ('status' in outcome) return outcome.status >= 500 && outcome.status !== 501;
  return outcome.code !== undefined && RETRYABLE_CODES.has(outcome.code);
}
