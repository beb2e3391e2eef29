/**
 * An object of the disk cache into a ready object, on a pool thread: read and check the file's
 * trailer (src/store/disk/format.ts), then map or copy the body and check its CRC32C against the
 * trailer's, so bit rot on the cache disk is refused, never served.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { decodeTrailer, TAIL_BYTES, trailerLength } from '../src/store/disk/format.js';
import { native } from '../src/native/index.js';
import type { CachedLoadResult, CachedLoadTask } from '../src/pool/tasks.js';
import { copied, mapped, PLAYLIST_LIMIT } from './bytes.js';

function readExactly(fd: number, length: number, position: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, b, got, length - got, position + got);
    if (n === 0) throw Object.assign(new Error('cache file shorter than it says'), { code: 'ESEGDCHANGED' });
    got += n;
  }
  return b;
}

export function loadCached(task: CachedLoadTask): CachedLoadResult {
  let fd: number;
  try {
    fd = openSync(task.file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    throw err;
  }
  let st;
  let meta;
  try {
    st = fstatSync(fd);
    if (st.size < TAIL_BYTES) return { kind: 'invalid', reason: 'too short for a cache file' };
    const n = trailerLength(readExactly(fd, TAIL_BYTES, st.size - TAIL_BYTES), st.size);
    if (n === undefined) return { kind: 'invalid', reason: 'no cache trailer' };
    meta = decodeTrailer(readExactly(fd, n, st.size - TAIL_BYTES - n), st.size, task.key);
    if (meta === undefined) return { kind: 'invalid', reason: 'trailer does not describe this file or key' };
    if (meta.length <= task.copyLimit || (task.playlist && meta.length <= PLAYLIST_LIMIT)) {
      const loaded = copied(readExactly(fd, meta.length, 0), task.playlist, st.mtimeMs, st.ino, undefined);
      return loaded.crc32c === meta.crc32c ? { ...loaded, meta, fileSize: st.size } : { kind: 'corrupt', expected: meta.crc32c, actual: loaded.crc32c };
    }
  } finally {
    closeSync(fd);
  }
  const loaded = mapped(task.file, st.size, meta.length, st.mtimeMs, st.ino, undefined);
  if (loaded.crc32c === meta.crc32c) return { ...loaded, meta, fileSize: st.size };
  if (loaded.kind === 'mapped') native.adopt(loaded.token).close();
  return { kind: 'corrupt', expected: meta.crc32c, actual: loaded.crc32c };
}
