/**
 * Walk a catalogue tree. Skips dotfiles/dot-directories (so `.segd/` and the manifest itself),
 * does not follow symbolic links (reported, not indexed: the server must not serve a link that
 * could point outside the root), and reports special files.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Issue } from './types.js';

export interface WalkedFile {
  /** Root-relative POSIX path. */
  rel: string;
  abs: string;
  size: number;
  mtimeMs: number;
}

export interface WalkResult {
  files: WalkedFile[];
  issues: Issue[];
}

const STAT_CONCURRENCY = 64;

export async function walkTree(root: string): Promise<WalkResult> {
  const files: WalkedFile[] = [];
  const issues: Issue[] = [];
  const st = await fsp.stat(root);
  if (!st.isDirectory()) throw new Error(`${root} is not a directory`);

  async function visit(dirAbs: string, dirRel: string): Promise<void> {
    let dirents;
    try {
      dirents = await fsp.readdir(dirAbs, { withFileTypes: true });
    } catch (err) {
      issues.push({
        severity: 'error',
        code: 'unreadable',
        asset: dirRel || '.',
        message: `cannot read directory: ${(err as Error).message}`,
      });
      return;
    }
    const subdirs: Array<[string, string]> = [];
    const regular: Array<[string, string]> = [];
    for (const d of dirents) {
      if (d.name.startsWith('.')) continue;
      const abs = path.join(dirAbs, d.name);
      const rel = dirRel ? `${dirRel}/${d.name}` : d.name;
      if (d.isSymbolicLink()) {
        issues.push({ severity: 'warning', code: 'symlink', asset: rel, message: 'symbolic link: not indexed (segd serves regular files only)' });
      } else if (d.isDirectory()) subdirs.push([abs, rel]);
      else if (d.isFile()) regular.push([abs, rel]);
      else issues.push({ severity: 'warning', code: 'special', asset: rel, message: 'not a regular file: not indexed' });
    }
    for (let i = 0; i < regular.length; i += STAT_CONCURRENCY) {
      await Promise.all(
        regular.slice(i, i + STAT_CONCURRENCY).map(async ([abs, rel]) => {
          try {
            const s = await fsp.lstat(abs);
            if (s.isFile()) files.push({ rel, abs, size: s.size, mtimeMs: s.mtimeMs });
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
              issues.push({ severity: 'error', code: 'unreadable', asset: rel, message: `cannot stat: ${(err as Error).message}` });
            }
          }
        }),
      );
    }
    for (const [abs, rel] of subdirs) await visit(abs, rel);
  }

  await visit(root, '');
  files.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  return { files, issues };
}
