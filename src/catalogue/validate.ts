/**
 * Playlist validation: pure functions over a `ParsedPlaylist` and a file lookup.
 * No file-system access here — references are resolved against the set of files the walk found,
 * so a URI that escapes the root is reported and never stat'ed, opened or read.
 */
import type {
  Byterange,
  Issue,
  IssueCode,
  MasterSummary,
  MediaSummary,
  ParsedMaster,
  ParsedMedia,
  ParsedPlaylist,
  PlaylistRecord,
  SegmentInfo,
} from './types.js';

/** What validation needs to know about a file of the tree. */
export interface FileFacts {
  size: number;
  /** Set for playlists: how the playlist parsed. */
  playlist?: 'master' | 'media' | 'invalid';
}
export type FileLookup = (rel: string) => FileFacts | undefined;

export type ResolvedUri =
  | { kind: 'local'; path: string; rootRelative: boolean }
  | { kind: 'external'; url: string }
  | { kind: 'inline'; scheme: string }
  | { kind: 'other-scheme'; scheme: string }
  | { kind: 'escape' }
  | { kind: 'bad'; reason: string };

const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):/;

/**
 * Resolve a URI found in the playlist at root-relative `playlistPath` to a root-relative POSIX
 * path. Query and fragment are dropped, percent-escapes decoded per path segment. Any `..` that
 * climbs above the root makes the whole URI an escape (unlike WHATWG URL resolution, which would
 * silently clamp it at "/").
 */
export function resolveUri(playlistPath: string, uri: string): ResolvedUri {
  const u = uri.trim();
  if (u === '') return { kind: 'bad', reason: 'empty URI' };
  const scheme = SCHEME.exec(u)?.[1]?.toLowerCase();
  if (scheme !== undefined) {
    if (scheme === 'http' || scheme === 'https') return { kind: 'external', url: u };
    if (scheme === 'data' || scheme === 'skd') return { kind: 'inline', scheme };
    if (scheme === 'file') return { kind: 'bad', reason: 'file: URIs are not allowed' };
    return { kind: 'other-scheme', scheme };
  }
  if (u.startsWith('//')) return { kind: 'external', url: u };
  if (u.includes('\\')) return { kind: 'bad', reason: 'backslash in URI' };
  const pathPart = u.replace(/[?#].*$/s, '');
  if (pathPart === '') return { kind: 'bad', reason: 'URI has no path' };
  const rootRelative = pathPart.startsWith('/');
  const stack: string[] = rootRelative ? [] : playlistPath.split('/').slice(0, -1);
  const rawSegs = pathPart.split('/');
  for (let i = 0; i < rawSegs.length; i++) {
    let seg: string;
    try {
      seg = decodeURIComponent(rawSegs[i]!);
    } catch {
      return { kind: 'bad', reason: 'malformed percent-encoding' };
    }
    if (seg.includes('/') || seg.includes('\\') || seg.includes('\0')) {
      return { kind: 'bad', reason: 'encoded "/", "\\" or NUL in a path segment' };
    }
    if (seg === '' || seg === '.') {
      if (i === rawSegs.length - 1) return { kind: 'bad', reason: 'URI names a directory' }; // dir/ and / and . name one
      continue;
    }
    if (seg === '..') {
      if (stack.length === 0) return { kind: 'escape' };
      stack.pop();
      continue;
    }
    stack.push(seg);
  }
  if (stack.length === 0) return { kind: 'bad', reason: 'URI names the catalogue root' };
  return { kind: 'local', path: stack.join('/'), rootRelative };
}

const FMP4_EXT = /\.(m4s|mp4|m4v|m4a|cmfv|cmfa|cmft)$/i;
export function isFmp4Uri(uri: string): boolean {
  return FMP4_EXT.test(uri.replace(/[?#].*$/s, ''));
}

/** RFC 8216bis §4.4.3.1: EXTINF rounded to the nearest integer MUST be <= EXT-X-TARGETDURATION. */
export function extinfWithinTarget(duration: number, targetDuration: number): boolean {
  return Math.round(duration) <= targetDuration;
}

class Collector {
  readonly errors: Issue[] = [];
  readonly warnings: Issue[] = [];
  readonly refs = new Set<string>();
  private readonly seen = new Set<string>();
  readonly external: string[] = [];
  private rootRelativeWarned = false;

  constructor(
    readonly asset: string,
    private readonly lookup: FileLookup,
  ) {}

  add(severity: Issue['severity'], code: IssueCode, message: string, extra: Partial<Issue> = {}, dedupeKey?: string): void {
    if (dedupeKey !== undefined) {
      const k = `${code}\u0000${dedupeKey}`;
      if (this.seen.has(k)) return;
      this.seen.add(k);
    }
    const issue: Issue = { severity, code, asset: this.asset, message, ...extra };
    (severity === 'error' ? this.errors : this.warnings).push(issue);
  }

  /**
   * Check the reference of item #index (segment, variant...); returns its target and facts when
   * it resolves to an existing local file.
   */
  ref(uri: string | undefined, what: string, index: number): { path: string; facts: FileFacts } | undefined {
    const at = ` #${index}`;
    if (uri === undefined || uri === '') {
      this.add('error', 'bad-uri', `${what}${at} has no URI`, { index });
      return undefined;
    }
    const r = resolveUri(this.asset, uri);
    const extra: Partial<Issue> = { uri, index };
    switch (r.kind) {
      case 'escape':
        this.add('error', 'escape', `${what}${at} "${uri}" resolves outside the catalogue root (not read)`, extra, uri);
        return undefined;
      case 'bad':
        this.add('error', 'bad-uri', `${what}${at} "${uri}": ${r.reason}`, extra, uri);
        return undefined;
      case 'external':
        if (!this.external.includes(r.url)) this.external.push(r.url);
        return undefined;
      case 'inline':
        return undefined;
      case 'other-scheme':
        this.add('warning', 'scheme', `${what}${at} "${uri}": ${r.scheme}: URI, not checked`, extra, uri);
        return undefined;
      case 'local': {
        if (r.rootRelative && !this.rootRelativeWarned) {
          this.rootRelativeWarned = true;
          this.add('warning', 'root-relative', `${what}${at} "${uri}" starts with "/": resolved against the catalogue root, correct only if the catalogue is served at "/"`, extra);
        }
        const facts = this.lookup(r.path);
        if (!facts) {
          const hidden = r.path.split('/').some((s) => s.startsWith('.'));
          this.add(
            'error',
            'missing',
            `${what}${at} "${uri}" → ${r.path}: ${hidden ? 'hidden path (dotfiles are not indexed or served)' : 'no such file'}`,
            { ...extra, target: r.path },
            r.path,
          );
          return undefined;
        }
        this.refs.add(r.path);
        return { path: r.path, facts };
      }
    }
  }

  finish(): void {
    const n = this.external.length;
    if (n > 0) {
      this.add('warning', 'external', `external, not checked: ${this.external[0]}${n > 1 ? ` (and ${n - 1} more)` : ''}`, {
        uri: this.external[0]!,
      });
    }
  }
}

function fmtRange(offset: number, length: number): string {
  return `bytes ${offset}-${offset + length - 1} (${length}@${offset})`;
}

function checkRangeFits(
  c: Collector,
  what: string,
  index: number,
  uri: string,
  target: { path: string; facts: FileFacts } | undefined,
  offset: number,
  length: number,
): boolean {
  const extra: Partial<Issue> = { uri, index };
  const at = `${what} #${index} "${uri}"`;
  // A 0-byte range has no Range header ("bytes=5-4" is invalid): a player would get the whole file.
  if (!Number.isSafeInteger(length) || length <= 0 || !Number.isSafeInteger(offset) || offset < 0) {
    c.add('error', 'byterange', `${at}: invalid byte range ${length}@${offset}`, extra);
    return false;
  }
  if (target && offset + length > target.facts.size) {
    c.add('error', 'byterange', `${at}: ${fmtRange(offset, length)} extends past the end of ${target.path} (${target.facts.size} bytes)`, {
      ...extra,
      target: target.path,
    });
    return false;
  }
  return true;
}

/**
 * The parts of segment #i (`#i` in their messages: the segment they belong to). A preload hint
 * names a part the packager has not written yet: nothing to check.
 */
function checkParts(c: Collector, seg: SegmentInfo, i: number): void {
  seg.parts?.forEach((part) => {
    if (part.hint) return;
    const t = c.ref(part.uri, 'partial segment', i);
    if (part.byterange?.offset !== undefined) {
      checkRangeFits(c, 'partial segment', i, part.uri, t, part.byterange.offset, part.byterange.length);
    }
  });
}

function validateMedia(p: ParsedMedia, c: Collector): MediaSummary {
  const td = p.targetDuration;
  if (td === undefined) {
    c.add('error', 'target-duration', 'EXT-X-TARGETDURATION is missing (required in every media playlist)');
  } else if (!Number.isInteger(td) || td < 0) {
    c.add('error', 'target-duration', `EXT-X-TARGETDURATION ${td} is not a decimal integer`);
  }
  let duration = 0;
  let bytes = 0;
  let fmp4 = false;
  let encrypted = false;
  const inits = new Set<string>();
  let prev: { uri: string; end: number } | undefined;

  // LL-HLS: parts after the last EXTINF belong to a segment still being made, which has no URI
  // or duration yet. Only its parts are checked, and it is not counted.
  const last = p.segments.at(-1);
  const pending = last !== undefined && last.uri === '' && last.parts !== undefined ? last : undefined;

  p.segments.forEach((seg, i) => {
    if (seg === pending) return checkParts(c, seg, i);
    const tag = `segment #${i} "${seg.uri}"`;
    if (!Number.isFinite(seg.duration) || seg.duration < 0) {
      c.add('error', 'extinf', `${tag}: invalid EXTINF duration ${seg.duration}`, { uri: seg.uri, index: i });
    } else {
      duration += seg.duration;
      if (td !== undefined && Number.isInteger(td) && td >= 0 && !extinfWithinTarget(seg.duration, td)) {
        c.add(
          'error',
          'extinf',
          `${tag}: EXTINF ${seg.duration} s rounds to ${Math.round(seg.duration)} s, over EXT-X-TARGETDURATION ${td} s`,
          { uri: seg.uri, index: i },
        );
      }
    }

    // GAP segments must not be loaded: their media need not exist.
    const target = seg.gap ? undefined : c.ref(seg.uri, 'segment', i);

    const br: Byterange | undefined = seg.byterange;
    if (br) {
      let offset = br.offset;
      if (offset === undefined) {
        if (prev && prev.uri === seg.uri) offset = prev.end;
        else {
          c.add(
            'error',
            'byterange',
            `${tag}: EXT-X-BYTERANGE ${br.length} has no offset, but the previous segment is not a sub-range of the same resource`,
            { uri: seg.uri, index: i },
          );
        }
      }
      if (offset !== undefined) {
        checkRangeFits(c, 'segment', i, seg.uri, target, offset, br.length);
        prev = { uri: seg.uri, end: offset + br.length };
        bytes += br.length;
      } else prev = undefined;
    } else {
      prev = undefined;
      if (target) bytes += target.facts.size;
    }

    const segIsFmp4 = isFmp4Uri(seg.uri);
    // An MPEG-TS segment may have a MAP too (its PAT and PMT): the init section's name decides then.
    if (segIsFmp4 || (seg.map?.uri !== undefined && isFmp4Uri(seg.map.uri))) fmp4 = true;
    if (segIsFmp4 && !seg.map) {
      c.add('error', 'init', `${tag}: fMP4 segment without an EXT-X-MAP init section`, { uri: seg.uri, index: i }, 'no-map');
    }
    if (seg.map) {
      const mapUri = seg.map.uri;
      const mbr = seg.map.byterange;
      const key = `${mapUri}\u0000${mbr?.offset ?? 0}\u0000${mbr?.length ?? ''}`;
      if (!inits.has(key)) {
        inits.add(key);
        const t = c.ref(mapUri, 'EXT-X-MAP init section', i);
        if (mbr) {
          if (checkRangeFits(c, 'EXT-X-MAP init section', i, mapUri ?? '', t, mbr.offset ?? 0, mbr.length)) bytes += mbr.length;
        } else if (t) bytes += t.facts.size;
      }
    }
    if (seg.key) {
      encrypted = true;
      if (seg.key.uri !== undefined) c.ref(seg.key.uri, 'EXT-X-KEY', i);
      else c.add('error', 'bad-uri', `${tag}: EXT-X-KEY METHOD=${seg.key.method} without URI`, { index: i }, 'key-no-uri');
    }
    checkParts(c, seg, i);
  });

  return {
    ...(td !== undefined ? { targetDuration: td } : {}),
    duration: Math.round(duration * 1000) / 1000,
    segments: p.segments.length - (pending ? 1 : 0),
    bytes,
    endlist: p.endlist,
    ...(p.playlistType ? { playlistType: p.playlistType } : {}),
    iframe: p.isIFrame,
    fmp4,
    encrypted,
  };
}

function checkMediaPlaylistTarget(c: Collector, what: string, index: number, uri: string, t: { path: string; facts: FileFacts } | undefined): void {
  if (!t) return;
  const k = t.facts.playlist;
  const extra = { uri, index, target: t.path };
  if (k === undefined) c.add('error', 'variant', `${what} #${index} "${uri}" → ${t.path} is not a playlist (.m3u8)`, extra);
  else if (k === 'master') c.add('error', 'variant', `${what} #${index} "${uri}" → ${t.path} is a master playlist; a media playlist is required`, extra);
  else if (k === 'invalid') c.add('error', 'variant', `${what} #${index} "${uri}" → ${t.path} is not a valid playlist (see its own errors)`, extra);
}

function validateMaster(p: ParsedMaster, c: Collector): MasterSummary {
  const summary: MasterSummary = { variants: [], renditions: [] };
  p.variants.forEach((v, i) => {
    const tagName = v.isIFrameOnly ? 'EXT-X-I-FRAME-STREAM-INF' : 'EXT-X-STREAM-INF';
    const what = v.isIFrameOnly ? 'I-frame variant' : 'variant';
    if (v.bandwidth === undefined) {
      c.add('error', 'bandwidth', `${what} #${i} "${v.uri}": ${tagName} has no BANDWIDTH (required)`, { uri: v.uri, index: i });
    }
    if (!v.codecs) {
      c.add('warning', 'codecs', `${what} #${i} "${v.uri}": ${tagName} has no CODECS (players must guess; add it)`, { uri: v.uri, index: i });
    }
    const t = c.ref(v.uri, what, i);
    checkMediaPlaylistTarget(c, what, i, v.uri, t);
    summary.variants.push({
      uri: v.uri,
      ...(t ? { path: t.path } : {}),
      iframe: v.isIFrameOnly,
      ...(v.bandwidth !== undefined ? { bandwidth: v.bandwidth } : {}),
      ...(v.averageBandwidth !== undefined ? { averageBandwidth: v.averageBandwidth } : {}),
      ...(v.codecs ? { codecs: v.codecs } : {}),
      ...(v.resolution ? { resolution: `${v.resolution.width}x${v.resolution.height}` } : {}),
      ...(v.frameRate !== undefined ? { frameRate: v.frameRate } : {}),
    });
  });
  p.renditions.forEach((r, i) => {
    let path: string | undefined;
    if (r.uri !== undefined) {
      const t = c.ref(r.uri, `EXT-X-MEDIA ${r.type} rendition "${r.name}"`, i);
      checkMediaPlaylistTarget(c, 'rendition', i, r.uri, t);
      path = t?.path;
    }
    summary.renditions.push({
      type: r.type,
      groupId: r.groupId,
      name: r.name,
      ...(r.language ? { language: r.language } : {}),
      ...(r.uri !== undefined ? { uri: r.uri } : {}),
      ...(path ? { path } : {}),
    });
  });
  p.sessionKeys.forEach((k, i) => {
    if (k.uri !== undefined) c.ref(k.uri, 'EXT-X-SESSION-KEY', i);
  });
  return summary;
}

/** Validate one parsed playlist against the files of the tree. Pure. */
export function validatePlaylist(p: ParsedPlaylist, lookup: FileLookup): PlaylistRecord {
  const c = new Collector(p.path, lookup);
  for (const d of p.diagnostics) c.add('warning', 'parser', `hls-parser: ${d}`, {}, d);
  if (p.kind === 'invalid') {
    c.add('error', p.code, p.error);
    return { kind: 'invalid', errors: c.errors, warnings: c.warnings, refs: [] };
  }
  const rec: PlaylistRecord = { kind: p.kind, errors: c.errors, warnings: c.warnings, refs: [] };
  if (p.kind === 'master') rec.master = validateMaster(p, c);
  else rec.media = validateMedia(p, c);
  c.finish();
  rec.refs = [...c.refs].sort();
  return rec;
}
