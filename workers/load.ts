/**
 * The cold path, run in the piscina pool so the event loop never waits on disk: for a file of a
 * served folder, resolve and confine the path, stat, map or read, fault the pages in, checksum,
 * and for playlists parse (hls-parser) and pre-compress; for an object of the disk cache, the
 * same from its cache file (workers/cached.ts). The main thread only adopts the result.
 */
import { readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { setPriority } from 'node:os';
import { relative } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { native } from '../src/native/index.js';
import { carry } from '../src/pool/carry.js';
import type { CachedLoadResult, Loaded, LoadResult, LoadTask, PoolTask, WarmTask } from '../src/pool/tasks.js';
import { copied, isPlaylist, mapped, PLAYLIST_LIMIT } from './bytes.js';
import { loadCached } from './cached.js';

/**
 * This thread's scheduling priority (nice) when it shares a core with the event loop: a load
 * (faulting pages in, checksumming a whole file) must not delay the answers the loop has ready.
 * At equal priority four busy pool threads left the loop a fifth of a shared core.
 */
const POOL_NICE = 10;
if (!isMainThread) lowerPriority(); // (a test that imports this module on its own thread keeps its priority)

function lowerPriority(): void {
  try {
    // Linux applies a priority to the one thread whose id is given; /proc/thread-self names it.
    setPriority(Number(readlinkSync('/proc/thread-self').split('/').pop()), POOL_NICE);
  } catch {
    // no /proc, or not allowed: the pool keeps the loop's priority
  }
}

const MISSING = { kind: 'missing' } as const;
const NOT_FOUND_CODES = new Set(['ENOENT', 'ENOTDIR', 'ELOOP', 'ENAMETOOLONG', 'EISDIR']);

function isInside(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith('/') ? root : root + '/');
}

/**
 * Hidden means hidden wherever a path resolves: a symlink `visible.txt -> .env` must not expose
 * the dotfile. Checks the resolved path's segments below the root (for a target outside the root,
 * the segments that are not `..`), so a root that itself lives under a dot directory still works.
 */
function resolvesHidden(real: string, root: string): boolean {
  return relative(root, real).split('/').some((seg) => seg.startsWith('.') && seg !== '..');
}

// Synchronous fs calls on purpose: this is a pool thread, and each await on fs/promises would
// add a round trip through libuv's own thread pool to every cold load.
export function load(task: LoadTask): LoadResult {
  try {
    const real = realpathSync.native(task.file);
    if (!task.followSymlinks && !isInside(real, task.realRoot)) return MISSING;
    if (resolvesHidden(real, task.realRoot)) return MISSING;
    const st = statSync(real);
    if (!st.isFile()) return MISSING;
    const exp = task.expected;
    const listed = exp !== undefined && exp.size === st.size && exp.mtimeMs === st.mtimeMs;
    const trusted = listed && !task.verify ? exp.crc32c : undefined;
    // Playlists are always copied: they are parsed and compressed, and a big VOD playlist needs
    // its facts (ENDLIST) as much as a small one.
    const small = st.size <= task.copyLimit || (isPlaylist(real) && st.size <= PLAYLIST_LIMIT);
    const result: Loaded = small ? copied(readFileSync(real), isPlaylist(real), st.mtimeMs, st.ino, trusted) : mapped(real, st.size, st.size, st.mtimeMs, st.ino, trusted);
    if (listed && exp.crc32c !== result.crc32c) {
      if (result.kind === 'mapped') native.adopt(result.token).close();
      return { kind: 'corrupt', size: result.size, mtimeMs: result.mtimeMs, expected: exp.crc32c, actual: result.crc32c };
    }
    return result;
  } catch (err) {
    if (NOT_FOUND_CODES.has((err as NodeJS.ErrnoException).code ?? '')) return MISSING;
    throw err;
  }
}

/**
 * Bring a mapped file's pages back into the page cache after the kernel dropped them, and say
 * whether the object's bytes still match its checksum: pages read back come from the disk, which
 * may have rotted (or been written behind the page cache) since the object was checked. A file
 * now shorter than the object is not judged here: the send meets its vanished pages, and the
 * addon's SIGBUS guard poisons the object's mapping (memory.ts drops it, with its own log line).
 */
function warm(task: WarmTask): boolean {
  const mapping = native.map(task.file);
  try {
    mapping.warm();
    return mapping.size < task.size || mapping.crc32c(0, task.size) === task.crc32c;
  } finally {
    mapping.close();
  }
}

/**
 * One default export that dispatches on `op`: piscina loads a default export through require()
 * when it can, which is also what lets the .ts sources run in workers under tsx. Exceptions come
 * back as values with their errno code (see src/pool/carry.ts).
 */
export default carry((task: PoolTask): LoadResult | CachedLoadResult | boolean => {
  switch (task.op) {
    case 'load':
      return load(task);
    case 'cached':
      return loadCached(task);
    case 'warm':
      return warm(task);
    case 'ping':
      return true;
  }
});
