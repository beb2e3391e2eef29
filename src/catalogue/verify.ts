/**
 * `segd verify DIR`: re-read every file listed in the manifest and report those whose bytes no
 * longer match (missing, truncated, grown, modified, bit rot), plus files present but unlisted.
 */
import path from 'node:path';
import { crcImplementation } from './crc.js';
import type { HashOutcome } from '../pool/tasks.js';
import { ManifestError, manifestFile, readManifest } from './manifest.js';
import { CataloguePool, catalogueThreads } from './pool.js';
import { fmtBytes, startProgress, type ProgressReporter } from './progress.js';
import type { ManifestEntry, Severity } from './types.js';
import { walkTree, type WalkedFile } from './walk.js';

export interface VerifyOptions {
  threads?: number;
  /** Progress bar on stderr (only ever drawn when stderr is a TTY), or a reporter of one's own. Default true. */
  progress?: boolean | ProgressReporter;
  log?: (line: string) => void;
  /** Also recompute SHA-256 (default false: CRC32C detects corruption; SHA-256 costs ~2x). */
  sha256?: boolean;
}

export type VerifyProblemKind =
  | 'missing' // listed, no longer there
  | 'truncated' // smaller than listed
  | 'grown' // larger than listed
  | 'modified' // same size, different bytes, mtime changed
  | 'bit-rot' // same size, different bytes, mtime unchanged
  | 'unreadable' // I/O error
  | 'unlisted'; // present in the tree, not in the manifest (warning)

export interface VerifyProblem {
  severity: Severity;
  kind: VerifyProblemKind;
  path: string;
  message: string;
  expected?: { size: number; crc32c: string; sha256?: string };
  actual?: { size: number; crc32c?: string; sha256?: string };
}

export interface VerifyResult {
  root: string;
  manifestPath: string;
  manifestCreated: string;
  stats: { listed: number; checked: number; bytesRead: number; seconds: number; gbps: number; threads: number; crc: string };
  problems: VerifyProblem[];
  errors: number;
  warnings: number;
  ok: boolean;
}

export async function verifyTree(root: string, opts: VerifyOptions = {}): Promise<VerifyResult> {
  const t0 = performance.now();
  const absRoot = path.resolve(root);
  const manifest = await readManifest(absRoot);
  if (!manifest) {
    throw new ManifestError(`no manifest at ${manifestFile(absRoot)}: run "segd index ${root}" first`, manifestFile(absRoot));
  }
  const walk = await walkTree(absRoot);
  const present = new Map<string, WalkedFile>(walk.files.map((f) => [f.rel, f]));
  const notRegular = new Map<string, string>(
    walk.issues.filter((i) => i.code === 'symlink' || i.code === 'special').map((i) => [i.asset, i.code === 'symlink' ? 'symbolic link' : 'special file']),
  );
  const problems: VerifyProblem[] = [];
  const toRead: Array<[WalkedFile, ManifestEntry]> = [];

  for (const [rel, e] of Object.entries(manifest.entries)) {
    const expected = { size: e.size, crc32c: e.crc32c, ...(opts.sha256 ? { sha256: e.sha256 } : {}) };
    const f = present.get(rel);
    if (!f) {
      const why = notRegular.get(rel);
      problems.push({
        severity: 'error',
        kind: 'missing',
        path: rel,
        message: why ? `no longer a regular file (${why}): listed in the manifest` : 'missing (listed in the manifest, not on disk)',
        expected,
      });
    } else if (f.size < e.size) {
      problems.push({
        severity: 'error',
        kind: 'truncated',
        path: rel,
        message: `truncated: ${f.size} bytes, manifest says ${e.size}`,
        expected,
        actual: { size: f.size },
      });
    } else if (f.size > e.size) {
      problems.push({
        severity: 'error',
        kind: 'grown',
        path: rel,
        message: `size changed: ${f.size} bytes, manifest says ${e.size}`,
        expected,
        actual: { size: f.size },
      });
    } else toRead.push([f, e]);
  }
  for (const f of walk.files) {
    if (!(f.rel in manifest.entries)) {
      problems.push({ severity: 'warning', kind: 'unlisted', path: f.rel, message: 'present but not in the manifest (run segd index)' });
    }
  }

  const threads = Math.max(1, opts.threads ?? catalogueThreads());
  const pool = new CataloguePool(threads);
  const progress = startProgress('verify', toRead.reduce((s, [f]) => s + f.size, 0), opts.progress);
  let bytesRead = 0;
  let checked = 0;
  try {
    await Promise.all(
      toRead.map(async ([f, e]) => {
        const expected = { size: e.size, crc32c: e.crc32c, ...(opts.sha256 ? { sha256: e.sha256 } : {}) };
        let out: HashOutcome | undefined;
        try {
          for (let attempt = 0; attempt < 2; attempt++) {
            out = await pool.hash({ path: f.abs, sha256: Boolean(opts.sha256) });
            bytesRead += out.size;
            if (out.stable) break;
          }
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          problems.push({
            severity: 'error',
            kind: code === 'ENOENT' ? 'missing' : 'unreadable',
            path: f.rel,
            message: code === 'ENOENT' ? 'missing (vanished during verify)' : `cannot read: ${(err as Error).message}`,
            expected,
          });
          return;
        } finally {
          progress.add(f.size);
        }
        checked++;
        const o = out!;
        const actual = { size: o.size, crc32c: o.crc32c, ...(o.sha256 ? { sha256: o.sha256 } : {}) };
        if (o.size < e.size) {
          problems.push({ severity: 'error', kind: 'truncated', path: f.rel, message: `truncated: ${o.size} bytes, manifest says ${e.size}`, expected, actual });
        } else if (o.size > e.size) {
          problems.push({ severity: 'error', kind: 'grown', path: f.rel, message: `size changed: ${o.size} bytes, manifest says ${e.size}`, expected, actual });
        } else if (o.crc32c !== e.crc32c || (o.sha256 !== undefined && o.sha256 !== e.sha256)) {
          const what = o.crc32c !== e.crc32c ? `CRC32C ${o.crc32c}, manifest says ${e.crc32c}` : `SHA-256 ${o.sha256}, manifest says ${e.sha256}`;
          if (o.mtimeMs === e.mtimeMs) {
            problems.push({ severity: 'error', kind: 'bit-rot', path: f.rel, message: `bit rot: content changed with size and mtime unchanged (${what})`, expected, actual });
          } else {
            problems.push({ severity: 'error', kind: 'modified', path: f.rel, message: `modified: content changed since indexing (${what})`, expected, actual });
          }
        }
      }),
    );
  } finally {
    progress.stop();
    await pool.close();
  }

  problems.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const seconds = (performance.now() - t0) / 1000;
  const errors = problems.filter((p) => p.severity === 'error').length;
  const stats = {
    listed: Object.keys(manifest.entries).length,
    checked,
    bytesRead,
    seconds,
    gbps: seconds > 0 ? bytesRead / seconds / 1e9 : 0,
    threads,
    crc: crcImplementation(),
  };
  opts.log?.(
    `verified ${checked}/${stats.listed} files, read ${fmtBytes(bytesRead)} in ${seconds.toFixed(2)} s = ${stats.gbps.toFixed(2)} GB/s` +
      ` (${opts.sha256 ? 'CRC32C + SHA-256' : 'CRC32C'}, ${threads} threads)`,
  );
  return {
    root: absRoot,
    manifestPath: manifestFile(absRoot),
    manifestCreated: manifest.created,
    stats,
    problems,
    errors,
    warnings: problems.length - errors,
    ok: errors === 0,
  };
}
