/**
 * `segd serve`'s configuration: one schema (zod) for the command line and the config file, so a
 * key means the same in both, bad values and unknown keys get one clear error that names the
 * flag or the key's path, and `segd config --print` shows exactly what a start would use.
 *
 * Keys are the flags in camelCase (`--cache-disk-size` is `cacheDiskSize`); the content root is
 * `dir`. Sizes and durations take the flags' text (`2GiB`, `500ms`) or a number meaning what a
 * bare number means on the command line (bytes; seconds).
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseDuration } from './duration.js';
import { SegdError } from './error.js';
import { parseSize } from './size.js';

/** A whole number: a JSON number, or the digits a flag gives. */
function whole(min: number, max: number) {
  const message = `expected a whole number from ${min} to ${max}`;
  return z
    .union([z.number(), z.string().regex(/^\s*\d+\s*$/, message).transform(Number)], { error: message })
    .pipe(z.number({ error: message }).int(message).min(min, message).max(max, message));
}

/** A size or a duration: the flag's text, or a number meaning what a bare number means on the command line. */
function parsed(parse: (text: string) => number, what: string) {
  return z.union([z.string(), z.number().nonnegative()], { error: `expected ${what}` }).transform((value, ctx) => {
    try {
      return parse(String(value));
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  });
}

const size = parsed(parseSize, 'a size such as 512MiB, or a number of bytes');
const duration = parsed(parseDuration, 'a duration such as 500ms or 10s, or a number of seconds');
const list = z.union([z.array(z.string()), z.string().transform((s) => s.split(',').map((p) => p.trim()).filter((p) => p !== ''))]);
const fraction = z.union([z.number(), z.string().transform(Number)]).pipe(z.number().min(0, 'expected a number from 0 to 10').max(10, 'expected a number from 0 to 10'));

export const SERVE_CONFIG = z.strictObject({
  dir: z.string().optional(),
  host: z.string().default('127.0.0.1'),
  port: whole(0, 65535).default(8080),
  tlsCert: z.string().optional(),
  tlsKey: z.string().optional(),
  httpPort: whole(0, 65535).optional(),
  hsts: z.union([z.boolean(), whole(0, 1_000_000_000)]).optional(),
  cacheSize: size.default(512 * 1024 ** 2),
  threads: whole(1, 1024).optional(),
  workers: z.union([z.literal('auto'), whole(1, 1024)], { error: "expected 'auto' or a whole number from 1 to 1024" }).optional(),
  corsOrigin: list.default(['*']),
  validity: whole(0, 3_600_000).default(1000),
  liveMaxAge: fraction.default(0.5),
  maxConnections: whole(1, 1_000_000).optional(),
  maxConnectionsPerAddress: whole(0, 1_000_000).optional(),
  followSymlinks: z.boolean().default(false),
  player: z.boolean().default(true),
  log: z.boolean().default(false),
  index: z.boolean().default(false),
  verify: z.boolean().default(true),
  grace: whole(0, 600_000).default(10_000),
  origin: z.string().optional(),
  cacheDir: z.string().optional(),
  cacheDiskSize: size.default(50 * 1024 ** 3),
  maxObjectSize: size.optional(),
  s3Endpoint: z.string().optional(),
  s3Region: z.string().optional(),
  s3PathStyle: z.boolean().optional(),
  staleIfError: duration.default(86_400_000),
  negativeTtl: duration.default(10_000),
  stripQuery: list.optional(),
  originConnections: whole(1, 100_000).default(64),
  originTimeout: duration.default(10_000),
});

export type ServeConfig = z.output<typeof SERVE_CONFIG>;
export type ServeKey = keyof ServeConfig;

/** Every default, as `segd config --print` shows it without a file or flags. */
export const SERVE_DEFAULTS: Readonly<ServeConfig> = SERVE_CONFIG.parse({});

/** Keys whose values are milliseconds inside, and durations with a unit in a file (a bare number there is seconds). */
const DURATIONS: readonly ServeKey[] = ['staleIfError', 'negativeTtl', 'originTimeout'];

/** The configuration as a config file would give it: durations written with their unit, so the output reads back the same. */
export function printable(config: ServeConfig): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config };
  for (const key of DURATIONS) if (typeof out[key] === 'number') out[key] = `${out[key] as number}ms`;
  return out;
}

/** The flag of a key: `cacheDiskSize` is `--cache-disk-size`. */
export function flagOf(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** A config file's object, or a SegdError naming the file and why it cannot be read. */
export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new SegdError(`cannot read the config file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 'ESEGDCONFIG');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new SegdError(`${file} is not JSON: ${(err as Error).message}`, 'ESEGDCONFIG');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new SegdError(`${file}: expected an object of settings`, 'ESEGDCONFIG');
  return value as Record<string, unknown>;
}

/**
 * The effective configuration: defaults, then the file, then the flags given on the command
 * line. Every problem is reported at once, each under the flag or the file key it came from.
 */
export function resolveServeConfig(file: { path: string; values: Record<string, unknown> } | undefined, flags: Record<string, unknown>): ServeConfig {
  const result = SERVE_CONFIG.safeParse({ ...file?.values, ...flags });
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const key = String(issue.path[0] ?? '');
    const where = key in flags ? flagOf(key) : `${file?.path ?? 'config'}: ${issue.path.join('.')}`;
    const what = issue.code === 'unrecognized_keys' ? `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}` : issue.message;
    return issue.code === 'unrecognized_keys' ? `${file?.path ?? 'config'}: ${what}` : `${where}: ${what}`;
  });
  throw new SegdError(lines.join('; '), 'ESEGDCONFIG');
}
