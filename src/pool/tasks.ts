/**
 * The messages that cross the worker-pool boundary, declared once for both sides: the main
 * thread (src/store) builds tasks and adopts results, workers/load.ts runs them. Everything here
 * must survive structured clone, which keeps plain data only: an Error loses its own properties
 * (its errno `code`) on the way, so failures travel as explicit `{ kind: 'failed', code }` values.
 */
import type { MappingToken } from '../native/index.js';
import type { PlaylistFacts } from '../http/cache-control.js';
import type { CachedMeta } from '../store/disk/format.js';

export type { PlaylistFacts };

/** What the manifest promises about a file: its checksum, valid for exactly this size and mtime. */
export interface Expectation {
  readonly size: number;
  readonly mtimeMs: number;
  readonly crc32c: number;
}

export interface LoadTask {
  readonly file: string; // absolute path as requested
  readonly realRoot: string; // realpath of the mount's root
  readonly followSymlinks: boolean;
  /** Files up to this size are copied into a Buffer instead of mapped (one VMA per tiny file is waste). */
  readonly copyLimit: number;
  /** Checksum promised by the manifest for exactly this size and mtime, when there is one. */
  readonly expected?: Expectation | undefined;
  /** Verify the bytes against `expected` (true), or take its checksum on trust and hash nothing. */
  readonly verify: boolean;
}

interface FileFacts {
  readonly size: number;
  readonly mtimeMs: number;
  readonly ino: number;
  readonly crc32c: number;
}

export type Loaded =
  | (FileFacts & {
      readonly kind: 'mapped';
      readonly token: MappingToken;
      /** CRC32C per block (src/store/blocks.ts), unless the checksum was taken on trust. */
      readonly blocks: Uint32Array | undefined;
    })
  | (FileFacts & {
      readonly kind: 'copied';
      readonly bytes: Uint8Array;
      readonly playlist?: PlaylistFacts | undefined;
      /** The first problem hls-parser found in a playlist, for the log. */
      readonly playlistProblem?: string | undefined;
      readonly gzip?: Uint8Array | undefined;
      readonly br?: Uint8Array | undefined;
    });

export type LoadResult =
  | Loaded
  | { readonly kind: 'missing' }
  | { readonly kind: 'corrupt'; readonly size: number; readonly mtimeMs: number; readonly expected: number; readonly actual: number };

/** Load an object of the disk cache from its file (src/store/disk/format.ts). */
export interface CachedLoadTask {
  readonly file: string;
  /** The cache key the file must be for (its name is a hash of it). */
  readonly key: string;
  readonly copyLimit: number;
  /** Parse and pre-compress it as a playlist. */
  readonly playlist: boolean;
}

export type CachedLoadResult =
  /** `fileSize`: the cache file's size, the body and its trailer. */
  | (Loaded & { readonly meta: CachedMeta; readonly fileSize: number })
  | { readonly kind: 'missing' }
  /** Not a cache file for this key (a torn or foreign file): drop it. */
  | { readonly kind: 'invalid'; readonly reason: string }
  /** The body's CRC32C differs from the trailer's: bit rot. */
  | { readonly kind: 'corrupt'; readonly expected: number; readonly actual: number };

/** Re-read a mapped object's dropped pages, checking its first `size` bytes against `crc32c` (they may have come back from a disk that rotted). */
export interface WarmTask {
  readonly file: string;
  readonly size: number;
  readonly crc32c: number;
}

export type PoolTask =
  | ({ readonly op: 'load' } & LoadTask)
  | ({ readonly op: 'cached' } & CachedLoadTask)
  | ({ readonly op: 'warm' } & WarmTask)
  /** Nothing: answered once a thread has loaded its code (start-up). */
  | { readonly op: 'ping' };

/** Catalogue tasks (workers/hash.ts): one-pass CRC32C + SHA-256 of a file. */
export interface HashTask {
  path: string;
  /** Also compute SHA-256 (default true). */
  sha256?: boolean;
}

export interface HashOutcome {
  /** Bytes actually read. */
  size: number;
  /** fstat at open. */
  statSize: number;
  mtimeMs: number;
  crc32c: string;
  sha256?: string;
  /** False when size/mtime changed while reading, or the bytes read differ from the size. */
  stable: boolean;
}
