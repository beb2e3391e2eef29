/** What the native tests need to know about the machine: a Rust toolchain, the active byte path. */
import { spawnSync } from 'node:child_process';
import { closeSync, constants, openSync, readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { tempTree } from './content.js';
import { fileURLToPath } from 'node:url';

export const NATIVE_DIR = fileURLToPath(new URL('../../native', import.meta.url));

/** Why cargo cannot be used here, or undefined when it can (`native/build.mjs` looks it up the same way). */
export const noCargo: string | undefined = spawnSync('cargo', ['--version'], { stdio: 'ignore' }).status === 0 ? undefined : 'cargo is not on PATH';

/**
 * For `it.skipIf`/`describe.skipIf`: true when `reason` is set, and then says on stderr what is
 * skipped and why, so a skip never passes unnoticed as a success.
 */
export function skipping(what: string, reason: string | undefined): boolean {
  if (reason !== undefined) console.warn(`skipped: ${what}: ${reason}`);
  return reason !== undefined;
}

/** Why the temp dir's file system refuses O_DIRECT (tmpfs does), or undefined when it takes it. */
export function noDirectIo(): string | undefined {
  const t = tempTree();
  try {
    t.write('probe', Buffer.alloc(4096));
    closeSync(openSync(join(t.dir, 'probe'), constants.O_RDWR | constants.O_DIRECT));
    return undefined;
  } catch (err) {
    return `no O_DIRECT in ${t.dir} (${(err as NodeJS.ErrnoException).code})`;
  } finally {
    t.remove();
  }
}

/** How many mappings of `file` this process holds, from the kernel's own list (/proc/self/maps). */
export function mappingsOf(file: string): number {
  const real = realpathSync(file);
  return readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((l) => l.endsWith(` ${real}`)).length;
}

/** How many descriptors this process holds open on `file` (/proc/self/fd). */
export function fdsOn(file: string): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === file) n++;
    } catch {
      // closed while we looked
    }
  }
  return n;
}
