/**
 * The one way segd writes lines. Diagnostics are JSON lines (pino) on stderr, each with a `msg`
 * and the fields that locate it (`file`, `reason`, `code`); the optional access log is JSON lines
 * on stdout and carries nothing else, so a log shipper can parse every stdout line.
 *
 * Errors that repeat per file (a 403 hammered by a client, a malformed playlist fetched by every
 * player) are rate-limited: the first line of a window is written, the rest are counted and the
 * count rides on the next line written for that key (`repeated`).
 */
import { pino, type Logger } from 'pino';

export type Fields = Record<string, unknown>;

export interface Diagnostics {
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  /** At most one line per `key` per window; repeats in between are counted, not written. */
  limited(level: 'warn' | 'error', key: string, msg: string, fields?: Fields): void;
}

/** How long a repeated line per key stays quiet. */
export const REPEAT_WINDOW_MS = 60_000;
/** Keys remembered at once; the oldest are forgotten first (a flood of distinct keys stays bounded). */
const MAX_KEYS = 10_000;

export function diagnostics(logger: Logger = pino({ base: undefined }, pino.destination(2)), windowMs = REPEAT_WINDOW_MS): Diagnostics {
  const quiet = new Map<string, { until: number; repeated: number }>();
  return {
    info: (msg, fields) => logger.info(fields ?? {}, msg),
    warn: (msg, fields) => logger.warn(fields ?? {}, msg),
    error: (msg, fields) => logger.error(fields ?? {}, msg),
    limited(level, key, msg, fields) {
      const now = Date.now();
      const q = quiet.get(key);
      if (q !== undefined && now < q.until) {
        q.repeated++;
        return;
      }
      const repeated = q?.repeated ?? 0;
      quiet.delete(key); // re-insert: Map order is then oldest-first for the bound below
      quiet.set(key, { until: now + windowMs, repeated: 0 });
      if (quiet.size > MAX_KEYS) quiet.delete(quiet.keys().next().value!);
      logger[level](repeated > 0 ? { ...fields, repeated } : (fields ?? {}), msg);
    },
  };
}

/** The access log: one JSON line per response on stdout. */
export function accessLogger(): Logger {
  return pino({ base: undefined }, pino.destination(1));
}
