/**
 * Bytes into a ready object, on a pool thread: a read-only mapping faulted in and checksummed, or
 * a copy (small files, and playlists, which are also parsed and pre-compressed).
 */
import { brotliCompressSync, constants as zlib, gzipSync } from 'node:zlib';
import { native } from '../src/native/index.js';
import { readPlaylistFacts } from '../src/catalogue/playlist.js';
import type { Loaded } from '../src/pool/tasks.js';
import { blockTable } from '../src/store/blocks.js';

/** Playlists larger than this are served as opaque bytes (a 64 MiB playlist is not a playlist). */
export const PLAYLIST_LIMIT = 64 * 1024 * 1024;

export const isPlaylist = (path: string): boolean => path.toLowerCase().endsWith('.m3u8');

/**
 * Maps `path` (expected to be `fileSize` bytes) and checksums its first `length` bytes block by
 * block (src/store/blocks.ts), which is what lets the object be served later by reading only the
 * blocks a request needs; a cache file carries a trailer after them. `trustedCrc`: a checksum
 * taken on trust instead of hashing (and then no block table).
 */
export function mapped(path: string, fileSize: number, length: number, mtimeMs: number, ino: number, trustedCrc: number | undefined): Loaded {
  const mapping = native.map(path);
  try {
    if (mapping.size !== fileSize) throw Object.assign(new Error(`file changed while loading: ${path}`), { code: 'ESEGDCHANGED' });
    mapping.warm();
    const { blocks, crc32c } = trustedCrc !== undefined ? { blocks: undefined, crc32c: trustedCrc } : blockTable(length, (offset, n) => mapping.crc32c(offset, n));
    return { kind: 'mapped', token: mapping.transfer(), size: length, mtimeMs, ino, crc32c, blocks };
  } finally {
    mapping.close();
  }
}

export function copied(bytes: Buffer, playlist: boolean, mtimeMs: number, ino: number, trustedCrc: number | undefined): Loaded {
  const crc32c = trustedCrc ?? native.crc32c(bytes);
  const base = { kind: 'copied' as const, bytes, size: bytes.length, mtimeMs, ino, crc32c };
  if (!playlist) return base;
  const { facts, problem } = readPlaylistFacts(bytes.toString('utf8'));
  const gzip = gzipSync(bytes, { level: 9 });
  const br = brotliCompressSync(bytes, {
    params: { [zlib.BROTLI_PARAM_QUALITY]: 11, [zlib.BROTLI_PARAM_SIZE_HINT]: bytes.length },
  });
  // A tiny playlist can grow when compressed; then only identity is offered.
  return {
    ...base,
    playlist: facts,
    playlistProblem: problem,
    gzip: gzip.length < bytes.length ? gzip : undefined,
    br: br.length < bytes.length ? br : undefined,
  };
}
