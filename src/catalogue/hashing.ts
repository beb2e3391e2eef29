/**
 * One-pass CRC32C + SHA-256 of a file with streaming reads into a reused buffer.
 * Synchronous on purpose: it runs inside a worker thread (workers/hash.ts), where blocking
 * reads avoid a libuv threadpool hop per chunk.
 */
import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { crc32c } from './crc.js';
import { crcHex } from '../http/etag.js';

export const HASH_BUFFER_SIZE = 256 * 1024;
let buffer: Buffer | undefined;

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

export function hashFileSync(task: HashTask): HashOutcome {
  buffer ??= Buffer.allocUnsafe(HASH_BUFFER_SIZE);
  const buf = buffer;
  // O_NOFOLLOW: a file swapped for a symlink after the walk is refused, not followed.
  const fd = openSync(task.path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
  try {
    const before = fstatSync(fd);
    if (!before.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EINVAL' });
    const sha = task.sha256 === false ? undefined : createHash('sha256');
    let crc = 0;
    let pos = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) break;
      const chunk = n === buf.length ? buf : buf.subarray(0, n);
      crc = crc32c(chunk, crc);
      sha?.update(chunk);
      pos += n;
    }
    const after = fstatSync(fd);
    return {
      size: pos,
      statSize: before.size,
      mtimeMs: before.mtimeMs,
      crc32c: crcHex(crc),
      ...(sha ? { sha256: sha.digest('base64') } : {}),
      stable: after.size === before.size && after.mtimeMs === before.mtimeMs && pos === before.size,
    };
  } finally {
    closeSync(fd);
  }
}
