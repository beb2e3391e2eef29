/**
 * Human and JSON renderings of index/verify results, and the exit-code decision.
 * Exit codes: 0 = no errors (warnings allowed), 1 = errors / mismatches, 2 = could not run
 * (no or corrupt manifest, root not a directory) — see `exitCodeForFailure`.
 */
import type { IndexResult } from './indexer.js';
import { ManifestError } from './manifest.js';
import { fmtBytes } from './progress.js';
import type { Issue } from './types.js';
import type { VerifyResult } from './verify.js';

export const EXIT_OK = 0;
export const EXIT_PROBLEMS = 1;
export const EXIT_FAILURE = 2;

export function exitCodeForIndex(r: IndexResult): number {
  return r.errors.length > 0 ? EXIT_PROBLEMS : EXIT_OK;
}
export function exitCodeForVerify(r: VerifyResult): number {
  return r.errors > 0 ? EXIT_PROBLEMS : EXIT_OK;
}
/** For an exception thrown by indexTree/verifyTree. */
export function exitCodeForFailure(_err: unknown): number {
  return EXIT_FAILURE;
}
export function describeFailure(err: unknown): string {
  if (err instanceof ManifestError) return `segd: ${err.message}`;
  return `segd: ${(err as Error)?.message ?? String(err)}`;
}

/** JSON-able view of an index run (no per-file hashes: those are in the manifest). */
export function indexReportJson(r: IndexResult): object {
  const playlists: Record<string, unknown> = {};
  for (const [p, e] of Object.entries(r.manifest.entries)) {
    if (!e.playlist) continue;
    playlists[p] = { kind: e.playlist.kind, errors: e.playlist.errors, warnings: e.playlist.warnings };
  }
  return {
    command: 'index',
    ok: r.ok,
    root: r.root,
    manifest: r.manifestPath,
    stats: r.stats,
    errorCount: r.errors.length,
    warningCount: r.warnings.length,
    playlists,
    issues: r.manifest.issues,
  };
}

export function verifyReportJson(r: VerifyResult): object {
  return {
    command: 'verify',
    ok: r.ok,
    root: r.root,
    manifest: r.manifestPath,
    manifestCreated: r.manifestCreated,
    stats: r.stats,
    errorCount: r.errors,
    warningCount: r.warnings,
    problems: r.problems,
  };
}

function plural(n: number, w: string): string {
  return `${n} ${w}${n === 1 ? '' : /(s|sh|ch|x)$/.test(w) ? 'es' : 's'}`;
}

function issueLine(i: Issue): string {
  return `    ${i.severity === 'error' ? 'error  ' : 'warning'} [${i.code}] ${i.message}`;
}

export interface HumanOptions {
  /** Max issues printed per asset (rest summarised). Default 20. */
  perAsset?: number;
}

export function formatIndexReport(r: IndexResult, opts: HumanOptions = {}): string {
  const cap = opts.perAsset ?? 20;
  const byAsset = new Map<string, Issue[]>();
  for (const i of [...r.errors, ...r.warnings]) {
    const list = byAsset.get(i.asset) ?? [];
    list.push(i);
    byAsset.set(i.asset, list);
  }
  const lines: string[] = [];
  for (const asset of [...byAsset.keys()].sort()) {
    const list = byAsset.get(asset)!;
    list.sort((a, b) => (a.severity === b.severity ? (a.index ?? -1) - (b.index ?? -1) : a.severity === 'error' ? -1 : 1));
    const ne = list.filter((i) => i.severity === 'error').length;
    lines.push(`${ne > 0 ? 'FAIL' : 'WARN'} ${asset}`);
    for (const i of list.slice(0, cap)) lines.push(issueLine(i));
    if (list.length > cap) lines.push(`    … and ${list.length - cap} more`);
  }
  const s = r.stats;
  const cleanPlaylists = Object.values(r.manifest.entries).filter((e) => e.playlist && e.playlist.errors.length === 0 && e.playlist.warnings.length === 0).length;
  lines.push(`${plural(s.playlists, 'playlist')} checked, ${cleanPlaylists} clean`);
  lines.push(
    `${plural(s.files, 'file')}, ${fmtBytes(s.bytes)}; hashed ${plural(s.filesHashed, 'file')} (${fmtBytes(s.bytesHashed)}), reused ${s.reused}; ` +
      `${s.seconds.toFixed(2)} s, ${s.gbps.toFixed(2)} GB/s`,
  );
  lines.push(`${r.ok ? 'OK' : 'FAILED'}: ${plural(r.errors.length, 'error')}, ${plural(r.warnings.length, 'warning')}; manifest ${r.manifestPath}`);
  return lines.join('\n') + '\n';
}

export function formatVerifyReport(r: VerifyResult): string {
  const lines: string[] = [];
  for (const p of r.problems) lines.push(`${p.severity === 'error' ? 'error  ' : 'warning'} [${p.kind}] ${p.path}: ${p.message}`);
  const s = r.stats;
  lines.push(`checked ${s.checked}/${s.listed} listed files, read ${fmtBytes(s.bytesRead)} in ${s.seconds.toFixed(2)} s (${s.gbps.toFixed(2)} GB/s); manifest of ${r.manifestCreated}`);
  lines.push(`${r.ok ? 'OK' : 'FAILED'}: ${plural(r.errors, 'mismatch')}, ${plural(r.warnings, 'warning')}`);
  return lines.join('\n') + '\n';
}
