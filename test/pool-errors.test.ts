/**
 * Errors cross the worker-pool boundary with their errno code: structured clone would drop it,
 * and the code is what decides 403 against 404 against 500. One test per pool entry point.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { carry, unwrap } from '../src/pool/carry.js';
import { availableParallelism, getPriority } from 'node:os';
import { LoadPool, servingThreads } from '../src/pool/load-pool.js';
import { CataloguePool } from '../src/catalogue/pool.js';
import { tempTree } from './helpers/content.js';

const tree = tempTree();
const pool = new LoadPool(1);
afterAll(async () => {
  await pool.close();
  tree.remove();
});

describe('the serving pool', () => {
  it('has cores - 1 threads, and at least 4: a load waiting on the disk holds its thread', () => {
    expect(servingThreads()).toBe(Math.max(4, availableParallelism() - 1));
  });

  it('runs its threads below the event loop\'s priority (nice 10), which keeps its own', async () => {
    /** The nice value of each of this process's threads (field 19 of /proc/self/task/TID/stat). */
    const nices = (): number[] =>
      readdirSync('/proc/self/task').map((tid) => {
        const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
      });
    await pool.ready(); // (this file's own pool, up before the count)
    const before = nices().filter((n) => n === 10).length;
    const two = new LoadPool(2);
    try {
      await two.ready();
      expect(nices().filter((n) => n === 10).length - before).toBe(2);
      expect(getPriority()).toBe(0);
    } finally {
      await two.close();
    }
  });
});

describe('carry and unwrap', () => {
  it('turn an exception into data and back, code included', () => {
    const failing = carry((path: string) => {
      throw Object.assign(new Error(`EACCES: permission denied, open '${path}'`), { code: 'EACCES', syscall: 'open', path });
    });
    const carried = structuredClone(failing('/x')); // what the pool does to a result
    expect(() => unwrap(carried)).toThrow(expect.objectContaining({ code: 'EACCES', syscall: 'open', path: '/x', message: "EACCES: permission denied, open '/x'" }));
    expect(unwrap(structuredClone(carry((n: number) => n + 1)(1)))).toBe(2);
  });
});

describe('through the pools', () => {
  it('load: a read error arrives with its code (EIO from /proc/self/mem)', async () => {
    await expect(pool.load({ file: '/proc/self/mem', realRoot: '/', followSymlinks: true, copyLimit: 65_536, verify: true })).rejects.toMatchObject({ code: 'EIO' });
  });

  it('warm: a vanished file arrives as ENOENT', async () => {
    await expect(pool.warm({ file: join(tree.dir, 'gone.ts'), size: 1, crc32c: 0 })).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('hash: a file swapped for a symlink arrives as ELOOP (O_NOFOLLOW)', async () => {
    tree.write('real.ts', 'x');
    symlinkSync(join(tree.dir, 'real.ts'), join(tree.dir, 'link.ts'));
    const catalogue = new CataloguePool(1);
    try {
      await expect(catalogue.hash({ path: join(tree.dir, 'link.ts') })).rejects.toMatchObject({ code: 'ELOOP' });
      await expect(catalogue.hash({ path: join(tree.dir, 'missing.ts') })).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await catalogue.close();
    }
  });
});
