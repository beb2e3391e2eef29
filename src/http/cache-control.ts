/**
 * Cache-Control policy by what an object is. Segments never change under one URL (the content
 * contract: new bytes get a new name), so they are immutable for a year; playlists are cached by
 * how they can change: a VOD playlist (#EXT-X-ENDLIST) or a master is stable, a live media
 * playlist gets about half a target duration so players and CDNs see each new segment in time.
 */
import type { ContentKind } from './content-type.js';
import type { Fallback } from './freshness.js';

export interface PlaylistFacts {
  readonly master: boolean;
  /** #EXT-X-ENDLIST present (VOD or a finished event). */
  readonly endList: boolean;
  /** EXT-X-TARGETDURATION in seconds, when known. */
  readonly targetDuration?: number | undefined;
}

export interface CachePolicy {
  readonly segmentMaxAge: number;
  readonly vodPlaylistMaxAge: number;
  readonly masterPlaylistMaxAge: number;
  /** A live playlist's max-age as a fraction of its target duration. */
  readonly liveFraction: number;
  readonly otherMaxAge: number;
}

export const DEFAULT_CACHE_POLICY: CachePolicy = {
  segmentMaxAge: 31_536_000,
  vodPlaylistMaxAge: 86_400,
  masterPlaylistMaxAge: 300,
  liveFraction: 0.5,
  otherMaxAge: 60,
};

export function cacheControlFor(kind: ContentKind, playlist: PlaylistFacts | undefined, p: CachePolicy): string {
  if (kind === 'segment') return `public, max-age=${p.segmentMaxAge}, immutable`;
  if (kind === 'playlist') {
    if (playlist === undefined) return 'no-cache'; // unparseable: let every request revalidate
    if (playlist.master) return `public, max-age=${p.masterPlaylistMaxAge}`;
    if (playlist.endList) return `public, max-age=${p.vodPlaylistMaxAge}`;
    const target = playlist.targetDuration ?? 2;
    return `public, max-age=${Math.max(1, Math.floor(target * p.liveFraction))}`;
  }
  return `public, max-age=${p.otherMaxAge}`;
}

/**
 * The lifetime an edge gives a response that states none: the max-age cacheControlFor expresses
 * (0 for `no-cache`), which a Last-Modified may lengthen except for a playlist not known to be a
 * master or VOD (live, or not parsed yet; see Fallback).
 */
export function fallbackFor(kind: ContentKind, playlist: PlaylistFacts | undefined, p: CachePolicy): Fallback {
  return {
    seconds: Number(/max-age=(\d+)/.exec(cacheControlFor(kind, playlist, p))?.[1] ?? 0),
    heuristic: kind !== 'playlist' || playlist?.master === true || playlist?.endList === true,
  };
}
