/**
 * Catalogue worker (piscina). Default export: hash one file (CRC32C + SHA-256 in one pass, with
 * streaming reads into a reused buffer; synchronous on purpose: blocking reads on a pool thread
 * avoid a libuv threadpool hop per chunk). Named export `parse`: read and parse one playlist.
 * Loaded by src/catalogue/pool.ts; under tsx/vitest as .ts, compiled as dist/workers/hash.js.
 */
import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { crc32c } from '../src/catalogue/crc.js';
import { crcHex } from '../src/http/etag.js';
import type { HashOutcome, HashTask } from '../src/pool/tasks.js';
import { carry } from '../src/pool/carry.js';
import { parsePlaylistText } from '../src/catalogue/playlist.js';
import type { ParsedPlaylist } from '../src/catalogue/types.js';

/** Exceptions come back as values with their errno code (see src/pool/carry.ts). */
export default carry((task: HashTask): HashOutcome => hashFileSync(task));

export function parse(task: { path: string; rel: string }): ParsedPlaylist {
  let text: string;
  try {
    text = readFileSync(task.path, 'utf8');
  } catch (err) {
    return { kind: 'invalid', path: task.rel, code: 'unreadable', error: `cannot read: ${(err as Error).message}`, diagnostics: [] };
  }
  return parsePlaylistText(text, task.rel);
}

const HASH_BUFFER_SIZE = 256 * 1024;
let buffer: Buffer | undefined;

function hashFileSync(task: HashTask): HashOutcome {
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
