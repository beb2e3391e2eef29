/**
 * The disk cache's file format: one file per object, named by the SHA-256 of its cache key,
 *
 *     body ‖ trailer (JSON) ‖ trailer length (u32 LE) ‖ magic "SEGDC\0\1\n"
 *
 * The body comes first so a fill streams it to disk before anything about it is known (its length
 * when the origin sends no Content-Length, its checksum), and so a mapping of the file is a
 * mapping of the body from offset 0. A file is only ever created whole by a rename from the
 * temporary directory, after its length and checksums were checked; the trailer's CRC32C of the
 * body is checked again whenever the file is loaded, so bit rot is caught, not served.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';

export const MAGIC = Buffer.from('SEGDC\0\x01\n', 'latin1');
/** Trailer length field plus magic. */
export const TAIL_BYTES = 4 + MAGIC.length;
/** A trailer is a few hundred bytes; anything claiming more than this is not ours. */
const MAX_TRAILER = 64 * 1024;

/** What the cache stores about an object besides its bytes. */
export interface CachedMeta {
  readonly v: 1;
  readonly key: string;
  /** Body length in bytes. */
  readonly length: number;
  readonly crc32c: number;
  /** When the origin request was sent and its response headers arrived, ms since the epoch. */
  readonly requestTime: number;
  readonly responseTime: number;
  /** The origin's response headers the cache keeps (lower-case names; see edge/headers.ts). */
  readonly headers: Readonly<Record<string, string>>;
}

export function keyHash(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/**
 * keyHash with the hashes of recent keys remembered (a SHA-256 per hit was a tenth of an edge's
 * own work on one). Past `kept` keys the memory starts over: a clear costs less than an LRU's
 * upkeep on every hit.
 */
export function keyHasher(kept = 65_536, hash: (key: string) => string = keyHash): (key: string) => string {
  const known = new Map<string, string>();
  return (key) => {
    let h = known.get(key);
    if (h === undefined) {
      if (known.size >= kept) known.clear();
      h = hash(key);
      known.set(key, h);
    }
    return h;
  };
}

/** data/ab/abcdef…: 256 directories keep any one directory small. */
export function objectPath(root: string, hash: string): string {
  return join(root, 'data', hash.slice(0, 2), hash);
}

export function encodeTrailer(meta: CachedMeta): Buffer {
  const json = Buffer.from(JSON.stringify(meta));
  const tail = Buffer.alloc(TAIL_BYTES);
  tail.writeUInt32LE(json.length, 0);
  MAGIC.copy(tail, 4);
  return Buffer.concat([json, tail]);
}

/** The trailer's length from the file's last TAIL_BYTES bytes, or undefined when it is not ours. */
export function trailerLength(tail: Buffer, fileSize: number): number | undefined {
  if (tail.length !== TAIL_BYTES || !tail.subarray(4).equals(MAGIC)) return undefined;
  const n = tail.readUInt32LE(0);
  return n > 0 && n <= MAX_TRAILER && n + TAIL_BYTES <= fileSize ? n : undefined;
}

/** Parses and checks a trailer against the file it came from; undefined when anything disagrees. */
export function decodeTrailer(json: Buffer, fileSize: number, key: string): CachedMeta | undefined {
  let m: CachedMeta;
  try {
    m = JSON.parse(json.toString('utf8')) as CachedMeta;
  } catch {
    return undefined;
  }
  const ok =
    m !== null &&
    typeof m === 'object' &&
    m.v === 1 &&
    m.key === key &&
    Number.isSafeInteger(m.length) &&
    m.length + json.length + TAIL_BYTES === fileSize &&
    Number.isInteger(m.crc32c) &&
    typeof m.headers === 'object' &&
    m.headers !== null;
  return ok ? m : undefined;
}
