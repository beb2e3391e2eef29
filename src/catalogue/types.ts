/**
 * Shared types of the content catalogue (`segd index` / `segd verify`).
 *
 * Everything here is plain JSON-able data: it crosses the worker-thread boundary (structured
 * clone) and is persisted in the manifest.
 */

export type Severity = 'error' | 'warning';

/** Stable machine-readable problem codes (the `message` is for people). */
export type IssueCode =
  | 'not-playlist' // file has a .m3u8 name but does not start with #EXTM3U
  | 'parse' // hls-parser could not parse it at all
  | 'parser' // diagnostic reported by hls-parser (spec conformance), kept as a warning
  | 'escape' // URI resolves outside the catalogue root (never read)
  | 'bad-uri' // URI that cannot be mapped to a file (file:, backslash, NUL, encoded slash...)
  | 'missing' // URI names a file that does not exist in the tree
  | 'external' // absolute http(s) URI: not checked
  | 'scheme' // other non-file scheme (e.g. urn:), not checked
  | 'root-relative' // URI starting with "/": resolved against the catalogue root
  | 'byterange' // byte range does not fit inside its file / invalid
  | 'target-duration' // EXT-X-TARGETDURATION missing/invalid
  | 'extinf' // round(EXTINF) > EXT-X-TARGETDURATION, or invalid duration
  | 'init' // fMP4 segment without EXT-X-MAP / unusable init section
  | 'variant' // a variant/rendition does not point to a usable media playlist
  | 'bandwidth' // variant without BANDWIDTH
  | 'codecs' // variant without CODECS
  | 'symlink' // symbolic link in the tree (not indexed)
  | 'special' // not a regular file / directory (fifo, socket, device)
  | 'unreadable' // I/O error while reading
  | 'unstable' // file kept changing while it was hashed
  | 'manifest'; // previous manifest unreadable (index) — rehashing everything

export interface Issue {
  severity: Severity;
  code: IssueCode;
  /** Root-relative POSIX path of the asset the problem belongs to (playlist or file). */
  asset: string;
  message: string;
  /** The URI as written in the playlist, when the problem is about a reference. */
  uri?: string;
  /** Root-relative path the URI resolved to, when it resolved inside the root. */
  target?: string;
  /** 0-based index of the segment / variant concerned. */
  index?: number;
}

export interface Byterange {
  length: number;
  /** Absent = continue after the previous segment's sub-range of the same resource. */
  offset?: number;
}

export interface SegmentInfo {
  uri: string;
  duration: number;
  byterange?: Byterange;
  /** EXT-X-MAP in effect for this segment. For MAP BYTERANGE, an absent offset means 0. */
  map?: { uri?: string; byterange?: Byterange };
  /** EXT-X-KEY in effect for this segment (METHOD=NONE is dropped). */
  key?: { method: string; uri?: string };
  gap?: boolean;
  /** LL-HLS partial segments; `hint`: an EXT-X-PRELOAD-HINT, a part that does not exist yet. */
  parts?: Array<{ uri: string; byterange?: Byterange; hint?: true }>;
}

export interface VariantInfo {
  uri: string;
  isIFrameOnly: boolean;
  bandwidth?: number;
  averageBandwidth?: number;
  codecs?: string;
  resolution?: { width: number; height: number };
  frameRate?: number;
}

export interface RenditionInfo {
  type: string;
  groupId: string;
  name: string;
  language?: string;
  uri?: string;
}

interface ParsedBase {
  /** Root-relative POSIX path of the playlist. */
  path: string;
  /** Messages hls-parser reported in non-strict mode. */
  diagnostics: string[];
}

export interface ParsedMaster extends ParsedBase {
  kind: 'master';
  variants: VariantInfo[];
  renditions: RenditionInfo[];
  sessionKeys: Array<{ method: string; uri?: string }>;
}

export interface ParsedMedia extends ParsedBase {
  kind: 'media';
  /** undefined when the EXT-X-TARGETDURATION tag is missing. */
  targetDuration?: number;
  version?: number;
  endlist: boolean;
  playlistType?: string;
  isIFrame: boolean;
  segments: SegmentInfo[];
}

export interface ParsedInvalid extends ParsedBase {
  kind: 'invalid';
  code: 'not-playlist' | 'parse' | 'unreadable';
  error: string;
}

/** Normalised, structured-clone-safe result of parsing one playlist (done in the worker pool). */
export type ParsedPlaylist = ParsedMaster | ParsedMedia | ParsedInvalid;

export interface MasterSummary {
  variants: Array<{
    uri: string;
    /** Root-relative target, when inside the root. */
    path?: string;
    iframe: boolean;
    bandwidth?: number;
    averageBandwidth?: number;
    codecs?: string;
    /** "WIDTHxHEIGHT" */
    resolution?: string;
    frameRate?: number;
  }>;
  renditions: Array<{ type: string; groupId: string; name: string; language?: string; uri?: string; path?: string }>;
}

export interface MediaSummary {
  targetDuration?: number;
  /** Sum of EXTINF durations, seconds. */
  duration: number;
  segments: number;
  /** Bytes the playlist makes a player fetch: segment (sub-)ranges plus distinct init sections. */
  bytes: number;
  endlist: boolean;
  playlistType?: string;
  iframe: boolean;
  fmp4: boolean;
  encrypted: boolean;
}

/** Validation outcome of one playlist, stored in its manifest entry. */
export interface PlaylistRecord {
  kind: 'master' | 'media' | 'invalid';
  errors: Issue[];
  warnings: Issue[];
  master?: MasterSummary;
  media?: MediaSummary;
  /** Distinct root-relative files this playlist references (segments, init, keys, playlists). */
  refs: string[];
}

export interface ManifestEntry {
  size: number;
  /** fs.Stats.mtimeMs (float, sub-millisecond) when the file was hashed. */
  mtimeMs: number;
  /** CRC32C (Castagnoli) of the whole file, 8 lower-case hex digits. */
  crc32c: string;
  /** SHA-256 of the whole file, standard base64 with padding (as in RFC 9530 `sha-256=:…:`). */
  sha256: string;
  /** Present for playlists (*.m3u8). */
  playlist?: PlaylistRecord;
}

export interface Manifest {
  format: 'segd-catalogue';
  version: 1;
  /** ISO-8601 time the index run started (hashing started at or after this instant). */
  created: string;
  /** Same instant, epoch milliseconds. */
  createdMs: number;
  /** Keyed by root-relative POSIX path; keys sorted. */
  entries: Record<string, ManifestEntry>;
  /** Tree-level problems not tied to a playlist (symlinks, special files, unreadable files). */
  issues: Issue[];
}
