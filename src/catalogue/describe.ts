/**
 * `describeCatalogue(manifest)`: JSON-able list of assets for the server's catalogue endpoint.
 * One item per playlist; `topLevel` marks masters and media playlists no master references
 * (what a catalogue UI lists). Master figures aggregate the media playlists they reference.
 */
import type { Manifest, PlaylistRecord } from './types.js';

export interface CatalogueRendition {
  kind: 'variant' | 'iframe' | 'audio' | 'video' | 'subtitles' | 'closed-captions';
  uri: string;
  /** Root-relative path of the media playlist, when inside the catalogue. */
  path?: string;
  bandwidth?: number;
  averageBandwidth?: number;
  codecs?: string;
  resolution?: string;
  frameRate?: number;
  groupId?: string;
  name?: string;
  language?: string;
  duration?: number;
  segments?: number;
  bytes?: number;
}

export interface CatalogueAsset {
  path: string;
  kind: 'master' | 'media' | 'invalid';
  topLevel: boolean;
  status: 'ok' | 'warnings' | 'errors';
  errors: number;
  warnings: number;
  /** Seconds (for a master: the longest of its variants). */
  duration: number;
  segments: number;
  /** Bytes of segments + init sections (for a master: summed over all referenced media playlists). */
  bytes: number;
  renditions: CatalogueRendition[];
  /** Manifest entry of the playlist itself, for ETag / Repr-Digest. */
  size: number;
  crc32c: string;
  sha256: string;
}

export function describeCatalogue(manifest: Manifest): CatalogueAsset[] {
  const records = new Map<string, PlaylistRecord>();
  for (const [p, e] of Object.entries(manifest.entries)) if (e.playlist) records.set(p, e.playlist);
  const referenced = new Set<string>();
  for (const r of records.values()) if (r.kind === 'master') for (const ref of r.refs) referenced.add(ref);

  const assets: CatalogueAsset[] = [];
  for (const [p, rec] of [...records].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const entry = manifest.entries[p]!;
    let duration = 0;
    let segments = 0;
    let bytes = 0;
    const renditions: CatalogueRendition[] = [];
    if (rec.media) {
      duration = rec.media.duration;
      segments = rec.media.segments;
      bytes = rec.media.bytes;
    }
    if (rec.master) {
      const counted = new Set<string>();
      const media = (path: string | undefined) => (path ? records.get(path)?.media : undefined);
      const addFigures = (path: string | undefined) => {
        const m = media(path);
        if (!m || !path) return;
        if (!counted.has(path)) {
          counted.add(path);
          segments += m.segments;
          bytes += m.bytes;
        }
        if (!m.iframe) duration = Math.max(duration, m.duration);
      };
      for (const v of rec.master.variants) {
        const m = media(v.path);
        addFigures(v.path);
        renditions.push({
          kind: v.iframe ? 'iframe' : 'variant',
          uri: v.uri,
          ...(v.path ? { path: v.path } : {}),
          ...(v.bandwidth !== undefined ? { bandwidth: v.bandwidth } : {}),
          ...(v.averageBandwidth !== undefined ? { averageBandwidth: v.averageBandwidth } : {}),
          ...(v.codecs ? { codecs: v.codecs } : {}),
          ...(v.resolution ? { resolution: v.resolution } : {}),
          ...(v.frameRate !== undefined ? { frameRate: v.frameRate } : {}),
          ...(m ? { duration: m.duration, segments: m.segments, bytes: m.bytes } : {}),
        });
      }
      for (const r of rec.master.renditions) {
        const m = media(r.path);
        addFigures(r.path);
        renditions.push({
          kind: r.type.toLowerCase() as CatalogueRendition['kind'],
          uri: r.uri ?? '',
          ...(r.path ? { path: r.path } : {}),
          groupId: r.groupId,
          name: r.name,
          ...(r.language ? { language: r.language } : {}),
          ...(m ? { duration: m.duration, segments: m.segments, bytes: m.bytes } : {}),
        });
      }
    }
    assets.push({
      path: p,
      kind: rec.kind,
      topLevel: rec.kind === 'master' || !referenced.has(p),
      status: rec.errors.length > 0 ? 'errors' : rec.warnings.length > 0 ? 'warnings' : 'ok',
      errors: rec.errors.length,
      warnings: rec.warnings.length,
      duration: Math.round(duration * 1000) / 1000,
      segments,
      bytes,
      renditions,
      size: entry.size,
      crc32c: entry.crc32c,
      sha256: entry.sha256,
    });
  }
  return assets;
}
