/**
 * A ready object: bytes (a read-only mapping of a file, or a copy for small files), checksum and
 * facts, adopted on the main thread from what a pool task loaded. Every tier serves these.
 */
import { constants as bufferConstants } from 'node:buffer';
import { native, type Mapping } from '../native/index.js';
import type { Loaded, PlaylistFacts } from '../pool/tasks.js';

/** The largest object exposed as one Buffer; bigger files are sliced from the mapping per request. */
export const MAX_VIEW = Math.min(bufferConstants.MAX_LENGTH, 2 ** 31);
/** Files up to this size are copied, not mapped (one mapping per tiny file is waste). */
export const COPY_LIMIT = 64 * 1024;

export interface StoredFile {
  /** The file the bytes come from (for re-warming dropped pages). */
  readonly file: string;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ino: number;
  readonly crc32c: number;
  /** CRC32C per block (src/store/blocks.ts): what lets the object be served by reading the file. */
  readonly blocks: Uint32Array | undefined;
  readonly playlist: PlaylistFacts | undefined;
  readonly gzip: Buffer | undefined;
  readonly br: Buffer | undefined;
  /** Zero-copy view of [start, start+length): a subarray of one whole-file Buffer when there is one. */
  view(start: number, length: number): Buffer;
}

/** An object's facts without its bytes: what response data is built from. */
export type ObjectFacts = Omit<StoredFile, 'view'>;

/** What the memory tier holds and the byte path needs of any cached object. */
export interface Resident {
  readonly file: StoredFile;
  readonly mapping: Mapping | undefined;
  /** A pending re-read of pages the kernel dropped, shared by concurrent requests. */
  warming: Promise<void> | undefined;
  /** A re-read found bytes that differ from the object's checksum: it must not be sent again. */
  mismatched: boolean;
  /** When a request last used it (ms): how cold the memory tier's least recent object is. */
  usedAt: number;
}

/** Bytes an object holds in memory, compressed variants included. */
export function bytesOf(f: StoredFile): number {
  return f.size + (f.gzip?.length ?? 0) + (f.br?.length ?? 0);
}

export function adopt(file: string, r: Loaded): { stored: StoredFile; mapping: Mapping | undefined } {
  const facts = { file, size: r.size, mtimeMs: r.mtimeMs, ino: r.ino, crc32c: r.crc32c };
  if (r.kind === 'copied') {
    const whole = toBuffer(r.bytes);
    return {
      stored: {
        ...facts,
        blocks: undefined,
        playlist: r.playlist,
        gzip: r.gzip && toBuffer(r.gzip),
        br: r.br && toBuffer(r.br),
        view: viewsOf(whole),
      },
      mapping: undefined,
    };
  }
  const mapping = native.adopt(r.token);
  // Zero-copy: `whole` points into the mapping; subarray() makes views, never copies. A mapping
  // may extend past the object (a cache file's trailer): views stop at r.size.
  const whole = r.size <= MAX_VIEW ? mapping.slice(0, r.size) : undefined;
  return {
    stored: {
      ...facts,
      blocks: r.blocks,
      playlist: undefined,
      gzip: undefined,
      br: undefined,
      view: whole ? viewsOf(whole) : (start, length) => mapping.slice(start, length),
    },
    mapping,
  };
}

/** Views of `whole`; the whole object is `whole` itself, so a full answer makes no new Buffer. */
function viewsOf(whole: Buffer): StoredFile['view'] {
  return (start, length) => (start === 0 && length === whole.length ? whole : whole.subarray(start, start + length));
}

/** Structured clone turns Buffers into plain Uint8Arrays; wrap without copying. */
function toBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}
