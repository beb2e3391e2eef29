/**
 * Memory per cache miss must not pile up, on either byte path.
 * - Addon: every miss maps its file on a pool thread, whose handle is a Node-API external freed
 *   by a finalizer; finalizers run from the thread's event loop, which piscina's default wait
 *   (Atomics.wait) never lets turn. That leaked about 140 bytes per miss for good (the soak's
 *   rising anonymous RSS); `segd_native_handles` counts the handles not finalized yet.
 * - TypeScript path: a file read into a SharedArrayBuffer on a pool thread was never reclaimed
 *   there once handed over, so memory grew by about the bytes of every miss.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { native } from '../src/native/index.js';
import { serveCli, type CliRun } from './helpers/cli.js';
import { get } from './helpers/http.js';
import { random, tempTree, type TempTree } from './helpers/content.js';
import { skipping } from './helpers/native.js';

const MiB = 2 ** 20;

async function metric(base: string, name: string): Promise<number> {
  const text = (await get(base, '/metrics')).body.toString();
  return Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? NaN);
}

const anonRss = (pid: number): number => Number(/^RssAnon:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) * 1024;

/** A library of `files` files of `size` bytes (over the 64 KiB copy limit: each miss maps) behind a 1 MiB cache. */
function missEverything(files: number, size: number, env?: NodeJS.ProcessEnv): { run: () => CliRun & { base: string }; misses: (n: number) => Promise<void> } {
  let tree: TempTree;
  let run: CliRun & { base: string };
  beforeAll(async () => {
    tree = tempTree();
    for (let i = 0; i < files; i++) tree.write(`s${i}.ts`, random(size));
    run = await serveCli([tree.dir, '--port', '0', '--no-player', '--cache-size', '1MiB', '--threads', '1'], env === undefined ? {} : { env });
  });
  afterAll(() => {
    run?.child.kill('SIGKILL');
    tree?.remove();
  });
  const misses = async (n: number): Promise<void> => {
    let next = 0;
    const client = async (): Promise<void> => {
      while (next < n) {
        const i = next++;
        const r = await get(run.base, `/s${(i * 7919) % files}.ts`);
        expect(r.status).toBe(200);
      }
    };
    await Promise.all(Array.from({ length: 8 }, client));
  };
  return { run: () => run, misses };
}

describe.skipIf(skipping('native handle finalization', native.kind === 'addon' ? undefined : 'the TypeScript byte path has no native handles'))(
  'mapping handles made on pool threads (addon)',
  () => {
    const lib = missEverything(200, 96 * 1024);
    it('are finalized while misses go on, not one kept per miss', async () => {
      const misses = 6000;
      await lib.misses(misses);
      const live = await metric(lib.run().base, 'segd_native_handles');
      // What the memory tier holds and what awaits a collection: hundreds, never one per miss.
      expect(live).toBeGreaterThan(0);
      expect(live).toBeLessThan(misses / 3);
    }, 120_000);
  },
);

describe('files read on pool threads (TypeScript byte path, SEGD_NATIVE=0)', () => {
  const lib = missEverything(100, 256 * 1024, { ...process.env, SEGD_NATIVE: '0' });
  it('are reclaimed: memory does not grow by the bytes missed', async () => {
    await lib.misses(200); // the pool's and V8's own start-up growth
    const before = anonRss(lib.run().child.pid!);
    await lib.misses(4000); // 1 GiB read
    const grown = anonRss(lib.run().child.pid!) - before;
    expect(grown).toBeLessThan(256 * MiB);
  }, 120_000);
});
