/**
 * The page cache in tests: whether a file's pages are in it, dropping them, and whether reads
 * can go past it here. Apart from helpers/native.ts, which must not load src/native/index.ts
 * (native-bench.test.ts picks the addon before that module loads).
 */
import { spawnSync } from 'node:child_process';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { native } from '../../src/native/index.js';
import { noDirectIo } from './native.js';
import { eventually } from './wait.js';

/** Whether any page of `file` is in the page cache (mincore through a mapping of our own, which reads nothing). */
export function resident(file: string): boolean {
  const m = native.map(file);
  try {
    return m.resident(0, m.size);
  } finally {
    m.close();
  }
}

/**
 * Drops `file`'s pages from the page cache (dd's nocache is posix_fadvise(DONTNEED)). A mapping
 * keeps its pages, so any of ours left unreferenced (a server's first load) is collected first.
 */
export async function evict(file: string): Promise<void> {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  // The fallback has no mincore, and reads every byte off the event loop anyway.
  await eventually(() => {
    gc();
    spawnSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none']);
    return native.kind === 'fallback' || !resident(file);
  }, { what: `the pages of ${file} to leave the page cache` });
}

/** Why reads past the page cache cannot happen here, or undefined. */
export const noDirectReads: string | undefined = native.kind === 'fallback' ? 'the TypeScript fallback has no page-aligned buffers' : noDirectIo();
