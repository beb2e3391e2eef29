/**
 * `segd index DIR`: walk, hash (CRC32C + SHA-256) and validate every playlist in the worker
 * pool, then write DIR/.segd/manifest.json atomically. Incremental: entries whose size and mtime
 * are unchanged (and were not "racily clean", see RACY_WINDOW_MS) reuse their hashes.
 */
import path from 'node:path';
import { crcImplementation } from './crc.js';
import type { HashOutcome } from '../pool/tasks.js';
import { emptyManifest, ManifestError, manifestFile, readManifest, writeManifestAtomic } from './manifest.js';
import { isPlaylistPath } from './playlist.js';
import { CataloguePool, catalogueThreads } from './pool.js';
import { fmtBytes, startProgress, type ProgressReporter } from './progress.js';
import type { Issue, Manifest, ManifestEntry, ParsedPlaylist } from './types.js';
import { validatePlaylist, type FileFacts } from './validate.js';
import { walkTree, type WalkedFile } from './walk.js';

/**
 * A previous entry is reused only if the file's mtime is at least this much older than the
 * start of the run that hashed it. Otherwise the file may have been rewritten within the same
 * timestamp tick after it was hashed (coarse FS clocks, 2 s on FAT), with size and mtime unchanged.
 */
export const RACY_WINDOW_MS = 2_000;

export interface IndexOptions {
  /** Worker threads (default: available parallelism). */
  threads?: number;
  /** Progress bar on stderr (only ever drawn when stderr is a TTY), or a reporter of one's own. Default true. */
  progress?: boolean | ProgressReporter;
  /** Receives the closing summary line(s). */
  log?: (line: string) => void;
  /** Override RACY_WINDOW_MS (ms). */
  racyWindowMs?: number;
}

export interface IndexStats {
  /** Files in the manifest. */
  files: number;
  bytes: number;
  playlists: number;
  /** Files whose bytes were read and hashed in this run (the rest reused their hashes). */
  filesHashed: number;
  bytesHashed: number;
  reused: number;
  /** Wall-clock seconds of the whole run (walk, pool start, hash, validate, write). */
  seconds: number;
  /** bytesHashed / seconds / 1e9. */
  gbps: number;
  threads: number;
  crc: string;
  /** Wall-clock seconds per phase: walk (incl. reading the old manifest), pool (start workers,
   * hash + parse: the hashing throughput is bytesHashed / pool), validate, write (manifest). */
  phases: { walk: number; pool: number; validate: number; write: number };
}

export interface IndexResult {
  root: string;
  manifestPath: string;
  manifest: Manifest;
  stats: IndexStats;
  /** All errors: playlist errors plus tree-level ones. */
  errors: Issue[];
  warnings: Issue[];
  ok: boolean;
}

function reusable(f: WalkedFile, prev: ManifestEntry | undefined, prevCreatedMs: number, racyMs: number): prev is ManifestEntry {
  return prev !== undefined && prev.size === f.size && prev.mtimeMs === f.mtimeMs && f.mtimeMs < prevCreatedMs - racyMs;
}

export async function indexTree(root: string, opts: IndexOptions = {}): Promise<IndexResult> {
  const t0 = performance.now();
  const createdMs = Date.now();
  const absRoot = path.resolve(root);
  const treeIssues: Issue[] = [];

  let prev: Manifest | undefined;
  try {
    prev = await readManifest(absRoot);
  } catch (err) {
    if (!(err instanceof ManifestError)) throw err;
    treeIssues.push({ severity: 'warning', code: 'manifest', asset: '.segd/manifest.json', message: `${err.message}; rehashing everything` });
  }

  const walk = await walkTree(absRoot);
  const tWalk = performance.now();
  treeIssues.push(...walk.issues);
  const racyMs = opts.racyWindowMs ?? RACY_WINDOW_MS;
  const entries = new Map<string, ManifestEntry>();
  const toHash: WalkedFile[] = [];
  for (const f of walk.files) {
    const p = prev?.entries[f.rel];
    if (prev && reusable(f, p, prev.createdMs, racyMs)) {
      entries.set(f.rel, { size: p.size, mtimeMs: p.mtimeMs, crc32c: p.crc32c, sha256: p.sha256 });
    } else toHash.push(f);
  }
  const reused = entries.size;
  const playlists = walk.files.filter((f) => isPlaylistPath(f.rel));

  const threads = Math.max(1, opts.threads ?? catalogueThreads());
  const pool = new CataloguePool(threads);
  const progress = startProgress('index', toHash.reduce((s, f) => s + f.size, 0), opts.progress);
  let filesHashed = 0;
  let bytesHashed = 0;
  const parsed = new Map<string, ParsedPlaylist>();

  const hashOne = async (f: WalkedFile): Promise<void> => {
    let out: HashOutcome | undefined;
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        out = await pool.hash({ path: f.abs });
        filesHashed++;
        bytesHashed += out.size;
        if (out.stable) break;
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        treeIssues.push({ severity: 'warning', code: 'unreadable', asset: f.rel, message: 'vanished while indexing: not listed' });
      } else if (code === 'ELOOP') {
        treeIssues.push({ severity: 'warning', code: 'symlink', asset: f.rel, message: 'became a symbolic link while indexing: not indexed' });
      } else {
        treeIssues.push({ severity: 'error', code: 'unreadable', asset: f.rel, message: `cannot read: ${(err as Error).message}` });
      }
      return;
    } finally {
      progress.add(f.size);
    }
    if (!out) return;
    if (!out.stable) {
      treeIssues.push({ severity: 'error', code: 'unstable', asset: f.rel, message: 'kept changing while being hashed (3 attempts): not listed' });
      return;
    }
    entries.set(f.rel, { size: out.size, mtimeMs: out.mtimeMs, crc32c: out.crc32c, sha256: out.sha256! });
  };

  try {
    await Promise.all([
      ...toHash.map(hashOne),
      ...playlists.map(async (f) => {
        parsed.set(f.rel, await pool.parse(f.abs, f.rel));
      }),
    ]);
  } finally {
    progress.stop();
    await pool.close();
  }

  const tPool = performance.now();
  // Validate every playlist against the set of files that made it into the manifest.
  const lookup = (rel: string): FileFacts | undefined => {
    const e = entries.get(rel);
    if (!e) return undefined;
    const p = parsed.get(rel);
    return p ? { size: e.size, playlist: p.kind } : { size: e.size };
  };
  const errors: Issue[] = treeIssues.filter((i) => i.severity === 'error');
  const warnings: Issue[] = treeIssues.filter((i) => i.severity === 'warning');
  for (const [rel, p] of [...parsed].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const e = entries.get(rel);
    if (!e) continue; // could not be hashed: already reported
    const rec = validatePlaylist(p, lookup);
    e.playlist = rec;
    errors.push(...rec.errors);
    warnings.push(...rec.warnings);
  }

  const manifest = emptyManifest(createdMs);
  for (const k of [...entries.keys()].sort()) manifest.entries[k] = entries.get(k)!;
  manifest.issues = treeIssues;
  const tValidate = performance.now();
  await writeManifestAtomic(absRoot, manifest);
  const tWrite = performance.now();

  const seconds = (performance.now() - t0) / 1000;
  const bytes = [...entries.values()].reduce((s, e) => s + e.size, 0);
  const stats: IndexStats = {
    files: entries.size,
    bytes,
    playlists: parsed.size,
    filesHashed,
    bytesHashed,
    reused,
    seconds,
    gbps: seconds > 0 ? bytesHashed / seconds / 1e9 : 0,
    threads,
    crc: crcImplementation(),
    phases: {
      walk: (tWalk - t0) / 1000,
      pool: (tPool - tWalk) / 1000,
      validate: (tValidate - tPool) / 1000,
      write: (tWrite - tValidate) / 1000,
    },
  };
  opts.log?.(
    `indexed ${stats.files} files (${fmtBytes(bytes)}), ${stats.playlists} playlist(s): hashed ${filesHashed} files / ${fmtBytes(bytesHashed)} ` +
      `in ${seconds.toFixed(2)} s = ${stats.gbps.toFixed(2)} GB/s (${threads} threads, crc32c ${stats.crc}), reused ${reused}`,
  );
  return { root: absRoot, manifestPath: manifestFile(absRoot), manifest, stats, errors, warnings, ok: errors.length === 0 };
}
