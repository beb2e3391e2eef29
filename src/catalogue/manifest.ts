/**
 * The catalogue manifest: `DIR/.segd/manifest.json`.
 *
 * Format (version 1), JSON, UTF-8:
 * ```
 * {
 *   "format": "segd-catalogue",
 *   "version": 1,
 *   "created": "2026-11-26T04:20:00.000Z",   // when the index run started
 *   "createdMs": 1795666800000,
 *   "entries": {                              // keyed by root-relative POSIX path, keys sorted
 *     "movie/720p/seg00001.m4s": {
 *       "size": 1048576,                      // bytes
 *       "mtimeMs": 1795666700123.456,         // fs.Stats.mtimeMs of the bytes that were hashed
 *       "crc32c": "e3069283",                 // CRC32C (Castagnoli), 8 lower-case hex digits
 *       "sha256": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="  // base64, for Repr-Digest
 *     },
 *     "movie/master.m3u8": {
 *       "size": 512, "mtimeMs": …, "crc32c": "…", "sha256": "…",
 *       "playlist": {                         // only for *.m3u8: validation results
 *         "kind": "master" | "media" | "invalid",
 *         "errors": [Issue…], "warnings": [Issue…],
 *         "refs": ["movie/720p/index.m3u8", …],           // distinct files it references
 *         "master": { "variants": […], "renditions": […] }, // for kind=master
 *         "media": { "targetDuration", "duration", "segments", "bytes", … } // for kind=media
 *       }
 *     }
 *   },
 *   "issues": [Issue…]                        // tree-level: symlinks / special files skipped, …
 * }
 * ```
 * An `Issue` is `{ severity: "error"|"warning", code, asset, message, uri?, target?, index? }`.
 * Dotfiles and dot-directories (including `.segd/`) are never listed.
 *
 * Serve-time use: `etagFor(entry)` → strong ETag `"<crc32c>-<size hex>"`;
 * `reprDigestFor(entry)` → RFC 9530 `Repr-Digest` field value `sha-256=:<base64>:`.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Manifest, ManifestEntry } from './types.js';
import { contentEtag } from '../http/etag.js';

export const MANIFEST_DIR = '.segd';
export const MANIFEST_PATH = '.segd/manifest.json';
export const MANIFEST_FORMAT = 'segd-catalogue';
export const MANIFEST_VERSION = 1;

/** Strong ETag from CRC32C + length, e.g. `"e3069283-9"`. */
export function etagFor(e: Pick<ManifestEntry, 'crc32c' | 'size'>): string {
  return contentEtag(Number.parseInt(e.crc32c, 16), e.size);
}

/** RFC 9530 `Repr-Digest` field value, e.g. `sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:`. */
export function reprDigestFor(e: Pick<ManifestEntry, 'sha256'>): string {
  return `sha-256=:${e.sha256}:`;
}

/** The manifest entry as the server's store expects it (numeric CRC32C). */
export function expectationFor(e: ManifestEntry): { size: number; mtimeMs: number; crc32c: number } {
  return { size: e.size, mtimeMs: e.mtimeMs, crc32c: Number.parseInt(e.crc32c, 16) >>> 0 };
}

/**
 * Serve-time lookups by file path (absolute, or relative to the process cwd) under `root`.
 * Paths outside the root, dotfiles and unlisted files give undefined.
 */
export function catalogueLookup(root: string, m: Manifest) {
  const absRoot = path.resolve(root);
  const entry = (file: string): ManifestEntry | undefined => {
    const rel = path.relative(absRoot, path.resolve(file)).split(path.sep).join('/');
    if (!isSafeRelPath(rel) || !Object.hasOwn(m.entries, rel)) return undefined;
    return m.entries[rel];
  };
  return {
    entry,
    expected: (file: string) => {
      const e = entry(file);
      return e && expectationFor(e);
    },
    reprDigest: (file: string) => {
      const e = entry(file);
      return e && reprDigestFor(e);
    },
    etag: (file: string) => {
      const e = entry(file);
      return e && etagFor(e);
    },
  };
}

export class ManifestError extends Error {
  override readonly name = 'ManifestError';
  constructor(
    message: string,
    readonly file: string,
  ) {
    super(message);
  }
}

export function manifestFile(root: string): string {
  return path.join(root, MANIFEST_PATH);
}

export function emptyManifest(createdMs = Date.now()): Manifest {
  return {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    created: new Date(createdMs).toISOString(),
    createdMs,
    entries: {},
    issues: [],
  };
}

const CRC_RE = /^[0-9a-f]{8}$/;
const SHA_RE = /^[A-Za-z0-9+/]{43}=$/;

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A root-relative POSIX path that may appear as a manifest key. */
export function isSafeRelPath(p: string): boolean {
  if (p === '' || p.startsWith('/') || p.includes('\0')) return false;
  return p.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

/** Validate the shape of a parsed manifest; throws ManifestError naming the first bad field. */
export function checkManifestShape(v: unknown, file = MANIFEST_PATH): Manifest {
  const bad = (what: string): never => {
    throw new ManifestError(`corrupt manifest ${file}: ${what}`, file);
  };
  if (!isObj(v)) return bad('not a JSON object');
  if (v.format !== MANIFEST_FORMAT) bad(`"format" is ${JSON.stringify(v.format)}, expected "${MANIFEST_FORMAT}"`);
  if (v.version !== MANIFEST_VERSION) bad(`unsupported "version" ${JSON.stringify(v.version)} (this segd reads version ${MANIFEST_VERSION})`);
  if (typeof v.created !== 'string' || Number.isNaN(Date.parse(v.created))) bad('"created" is not an ISO date');
  if (typeof v.createdMs !== 'number' || !Number.isFinite(v.createdMs)) bad('"createdMs" is not a number');
  if (!isObj(v.entries)) bad('"entries" is not an object');
  if (!Array.isArray(v.issues)) bad('"issues" is not an array');
  for (const [k, e] of Object.entries(v.entries as Record<string, unknown>)) {
    const at = `entries[${JSON.stringify(k)}]`;
    if (!isSafeRelPath(k)) bad(`${at}: key is not a safe root-relative path`);
    if (!isObj(e)) return bad(`${at} is not an object`);
    if (typeof e.size !== 'number' || !Number.isSafeInteger(e.size) || e.size < 0) bad(`${at}.size is not a byte count`);
    if (typeof e.mtimeMs !== 'number' || !Number.isFinite(e.mtimeMs)) bad(`${at}.mtimeMs is not a number`);
    if (typeof e.crc32c !== 'string' || !CRC_RE.test(e.crc32c)) bad(`${at}.crc32c is not 8 lower-case hex digits`);
    if (typeof e.sha256 !== 'string' || !SHA_RE.test(e.sha256)) bad(`${at}.sha256 is not a base64 SHA-256`);
    if (e.playlist !== undefined) {
      const p = e.playlist;
      if (!isObj(p)) return bad(`${at}.playlist is not an object`);
      if (p.kind !== 'master' && p.kind !== 'media' && p.kind !== 'invalid') bad(`${at}.playlist.kind is invalid`);
      if (!Array.isArray(p.errors) || !Array.isArray(p.warnings) || !Array.isArray(p.refs)) {
        bad(`${at}.playlist needs errors, warnings and refs arrays`);
      }
    }
  }
  return v as unknown as Manifest;
}

/**
 * Read and validate `root/.segd/manifest.json`. Returns undefined when there is none;
 * throws ManifestError when it exists but is not a valid manifest.
 */
export async function readManifest(root: string): Promise<Manifest | undefined> {
  const file = manifestFile(root);
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ManifestError(`cannot read manifest ${file}: ${(err as Error).message}`, file);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ManifestError(`corrupt manifest ${file}: not valid JSON (${(err as Error).message})`, file);
  }
  return checkManifestShape(parsed, file);
}

/** Serialise with sorted entry keys (stable diffs, deterministic bytes). */
export function serializeManifest(m: Manifest): string {
  const entries: Record<string, ManifestEntry> = {};
  for (const k of Object.keys(m.entries).sort()) entries[k] = m.entries[k]!;
  return JSON.stringify({ ...m, entries }, null, 1) + '\n';
}

export interface WriteHooks {
  /** Test hook: runs after the temp file is written and fsync'ed, before the rename. */
  beforeRename?: (tempPath: string) => void | Promise<void>;
}

const TEMP_PREFIX = 'manifest.json.tmp-';

/** Remove temp files left by writers that died (pid not alive). */
async function removeStaleTemps(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return;
  }
  for (const n of names) {
    if (!n.startsWith(TEMP_PREFIX)) continue;
    const pid = Number(n.slice(TEMP_PREFIX.length).split('-')[0]);
    let alive = false;
    if (Number.isInteger(pid) && pid > 0) {
      try {
        process.kill(pid, 0);
        alive = true;
      } catch (err) {
        alive = (err as NodeJS.ErrnoException).code === 'EPERM';
      }
    }
    if (!alive) await fsp.rm(path.join(dir, n), { force: true });
  }
}

/**
 * Atomically replace `root/.segd/manifest.json`: write a temp file in the same directory,
 * fsync it, rename it over the manifest, fsync the directory. A crash at any point leaves
 * either the old or the new manifest, never a torn one.
 */
export async function writeManifestAtomic(root: string, m: Manifest, hooks: WriteHooks = {}): Promise<void> {
  const dir = path.join(root, MANIFEST_DIR);
  await fsp.mkdir(dir, { recursive: true });
  await removeStaleTemps(dir);
  const final = path.join(dir, 'manifest.json');
  const temp = path.join(dir, `${TEMP_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`);
  const data = serializeManifest(m);
  let renamed = false;
  try {
    const fh = await fsp.open(temp, 'wx', 0o644);
    try {
      await fh.writeFile(data, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await hooks.beforeRename?.(temp);
    await fsp.rename(temp, final);
    renamed = true;
    const dh = await fsp.open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } finally {
    if (!renamed) await fsp.rm(temp, { force: true });
  }
}
