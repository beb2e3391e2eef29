/**
 * The list of streams the player page offers: every master playlist, and every media playlist
 * that no master names. From the manifest's catalogue when there is one, else from the
 * catalogue's own tree walk and playlist reader; endpoints.ts keeps the answer for 5 s.
 */
import { readFile } from 'node:fs/promises';
import { join, posix, relative, sep } from 'node:path';
import type { CatalogueAsset } from '../catalogue/describe.js';
import { isPlaylistPath, parsePlaylistText } from '../catalogue/playlist.js';
import { walkTree } from '../catalogue/walk.js';

export interface StreamInfo {
  readonly path: string; // URL path, e.g. /ts/master.m3u8
  readonly name: string;
  readonly kind: 'master' | 'media';
  /** From the manifest, when there is one. */
  readonly catalogue?: Pick<CatalogueAsset, 'status' | 'errors' | 'warnings' | 'duration' | 'segments' | 'bytes' | 'renditions'>;
}

/** The top-level playlists; from the manifest's catalogue when given, else from a walk. */
export async function listStreams(root: string, assets?: readonly CatalogueAsset[]): Promise<StreamInfo[]> {
  if (assets !== undefined) {
    return assets
      .filter((a) => a.topLevel && a.kind !== 'invalid')
      .map((a) => ({
        path: urlPath(a.path),
        name: a.path.replace(/\.m3u8$/i, ''),
        kind: a.kind as 'master' | 'media',
        catalogue: { status: a.status, errors: a.errors, warnings: a.warnings, duration: a.duration, segments: a.segments, bytes: a.bytes, renditions: a.renditions },
      }));
  }
  const walked = await walkTree(root).catch(() => ({ files: [] }));
  const files = walked.files.filter((f) => isPlaylistPath(f.rel)).map((f) => f.abs).sort();
  const masters = new Set<string>();
  const referenced = new Set<string>();
  for (const file of files) {
    const parsed = parsePlaylistText(await readFile(file, 'utf8').catch(() => ''), file);
    if (parsed.kind !== 'master') continue;
    masters.add(file);
    for (const uri of [...parsed.variants.map((v) => v.uri), ...parsed.renditions.map((r) => r.uri)]) {
      if (uri && !/^[a-z]+:/i.test(uri)) referenced.add(join(file, '..', uri.split('?')[0]!));
    }
  }
  return files
    .filter((f) => masters.has(f) || !referenced.has(f))
    .map((f) => {
      const rel = relative(root, f).split(sep).join(posix.sep);
      return { path: urlPath(rel), name: rel.replace(/\.m3u8$/i, ''), kind: masters.has(f) ? 'master' : 'media' };
    });
}

function urlPath(rel: string): string {
  return '/' + rel.split('/').map(encodeURIComponent).join('/');
}
