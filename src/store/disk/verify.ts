/**
 * `segd verify --cache-dir DIR`: re-reads every object of an edge's disk cache and checks it as a
 * load does (trailer, key, length, CRC32C of the body), so bit rot is found before a player finds
 * it. Read-only: a running edge drops what fails when it next loads it.
 */
import { closeSync, fstatSync, openSync, readdirSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { native } from '../../native/index.js';
import { decodeTrailer, keyHash, TAIL_BYTES, trailerLength } from './format.js';

export interface CacheProblem {
  readonly file: string;
  /** The cache key, when the trailer could be read. */
  readonly key: string | undefined;
  readonly problem: string;
}

export interface CacheVerifyResult {
  readonly objects: number;
  readonly bytes: number;
  readonly problems: readonly CacheProblem[];
}

const CHUNK = 1024 * 1024;

export function verifyCacheDir(root: string): CacheVerifyResult {
  const problems: CacheProblem[] = [];
  let objects = 0;
  let bytes = 0;
  const buf = Buffer.allocUnsafe(CHUNK);
  for (const d of readdirSync(join(root, 'data')).sort()) {
    for (const name of readdirSync(join(root, 'data', d)).sort()) {
      const file = join(root, 'data', d, name);
      objects++;
      const fd = openSync(file, 'r');
      try {
        const size = fstatSync(fd).size;
        bytes += size;
        const tail = Buffer.alloc(TAIL_BYTES);
        if (size < TAIL_BYTES || readSync(fd, tail, 0, TAIL_BYTES, size - TAIL_BYTES) !== TAIL_BYTES) {
          problems.push({ file, key: undefined, problem: 'too short for a cache file' });
          continue;
        }
        const n = trailerLength(tail, size);
        if (n === undefined) {
          problems.push({ file, key: undefined, problem: 'no cache trailer' });
          continue;
        }
        const json = Buffer.alloc(n);
        readSync(fd, json, 0, n, size - TAIL_BYTES - n);
        const key = keyOf(json);
        const meta = key === undefined ? undefined : decodeTrailer(json, size, key);
        if (meta === undefined || keyHash(meta.key) !== name) {
          problems.push({ file, key, problem: 'trailer does not describe this file' });
          continue;
        }
        let crc = 0;
        for (let pos = 0; pos < meta.length; ) {
          const got = readSync(fd, buf, 0, Math.min(CHUNK, meta.length - pos), pos);
          if (got === 0) break;
          crc = native.crc32c(buf.subarray(0, got), crc);
          pos += got;
        }
        if (crc >>> 0 !== meta.crc32c) problems.push({ file, key: meta.key, problem: `CRC32C ${(crc >>> 0).toString(16)} differs from the trailer's ${meta.crc32c.toString(16)}` });
      } catch (err) {
        problems.push({ file, key: undefined, problem: `unreadable: ${(err as Error).message}` });
      } finally {
        closeSync(fd);
      }
    }
  }
  return { objects, bytes, problems };
}

/** The key a trailer names, before it is checked against anything. */
function keyOf(json: Buffer): string | undefined {
  try {
    const key = (JSON.parse(json.toString('utf8')) as { key?: unknown }).key;
    return typeof key === 'string' ? key : undefined;
  } catch {
    return undefined;
  }
}
