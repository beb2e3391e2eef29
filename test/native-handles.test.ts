/**
 * Native memory per cache miss must not pile up. Every miss maps its file on a pool thread,
 * whose handle is a Node-API external freed by a finalizer; finalizers run from the thread's
 * event loop, which piscina's default wait (Atomics.wait) never lets turn. That leaked about
 * 140 bytes per miss for good (the soak's rising anonymous RSS); `segd_native_handles` counts the
 * handles not finalized yet.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { native } from '../src/native/index.js';
import { serveCli, type CliRun } from './helpers/cli.js';
import { get } from './helpers/http.js';
import { random, tempTree, type TempTree } from './helpers/content.js';
import { skipping } from './helpers/native.js';

const FILES = 200;
const MISSES = 6000;

async function handles(base: string): Promise<number> {
  const text = (await get(base, '/metrics')).body.toString();
  return Number(/^segd_native_handles (\S+)/m.exec(text)?.[1] ?? NaN);
}

describe.skipIf(skipping('native handle finalization', native.kind === 'addon' ? undefined : 'the TypeScript byte path has no native handles'))(
  'mapping handles made on pool threads',
  () => {
    let tree: TempTree;
    let run: CliRun & { base: string };
    beforeAll(async () => {
      tree = tempTree();
      // Larger than the 64 KiB copy limit, so each miss maps; the cache holds about ten of them.
      for (let i = 0; i < FILES; i++) tree.write(`s${i}.ts`, random(96 * 1024));
      run = await serveCli([tree.dir, '--port', '0', '--no-player', '--cache-size', '1MiB', '--threads', '1']);
    });
    afterAll(() => {
      run?.child.kill('SIGKILL');
      tree?.remove();
    });

    it('are finalized while misses go on, not one kept per miss', async () => {
      let next = 0;
      const client = async (): Promise<void> => {
        while (next < MISSES) {
          const i = next++;
          const r = await get(run.base, `/s${(i * 7919) % FILES}.ts`);
          expect(r.status).toBe(200);
        }
      };
      await Promise.all(Array.from({ length: 8 }, client));
      const live = await handles(run.base);
      // What the memory tier holds and what awaits a collection: hundreds, never one per miss.
      expect(live).toBeGreaterThan(0);
      expect(live).toBeLessThan(MISSES / 3);
    }, 120_000);
  },
);
