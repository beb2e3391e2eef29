/**
 * The worker pool (piscina) for everything slow: the cold path of workers/load.ts.
 * Running from TypeScript sources (tests, tsx) the workers load the .ts file through tsx;
 * the compiled package uses dist/workers/load.js.
 */
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { CachedLoadResult, CachedLoadTask, LoadResult, LoadTask, PoolTask, WarmTask } from './tasks.js';
import { unwrap, type Carried } from './carry.js';

/**
 * Serving keeps a core for the event loop: the pool gets the others, and at least
 * MIN_SERVING_THREADS, because a load whose file is not in the page cache holds its thread while
 * the disk reads: with one thread (a 2-core box) a library larger than memory was read one file
 * at a time (bench disk scenario by hand, 2 GiB library in 512 MiB: 309 MB/s and p99 1.27 s with
 * 1 thread, 545 MB/s and 226 ms with 4, 569 MB/s with 8 but an event-loop p99 of 96 ms against 61).
 */
export function servingThreads(): number {
  return Math.max(MIN_SERVING_THREADS, availableParallelism() - 1);
}

const MIN_SERVING_THREADS = 4;

/**
 * The piscina options of a worker module beside this file's tree, compiled or not.
 *
 * `atomics: 'async'`: with piscina's default ('sync') a busy thread waits for its next task in
 * `Atomics.wait` and its event loop never turns, so Node-API finalizers, which run from that loop,
 * never ran: every file mapped on a pool thread left its handle (about 140 bytes of native
 * memory) behind for good, 2-3 MiB a minute in the soak.
 */
export function workerModule(name: string): { filename: string; execArgv: string[]; atomics: 'async' } {
  const fromSource = import.meta.url.endsWith('.ts');
  const url = new URL(`../../workers/${name}${fromSource ? '.ts' : '.js'}`, import.meta.url);
  return { filename: fileURLToPath(url), execArgv: fromSource ? ['--import', 'tsx'] : [], atomics: 'async' };
}

export interface PoolStats {
  readonly queueSize: number;
  readonly threads: number;
}

export class LoadPool {
  private readonly piscina: Piscina;
  /** Called with each task's duration in seconds (for metrics). */
  onTaskTime: ((seconds: number) => void) | undefined;

  constructor(private readonly threads = servingThreads()) {
    this.piscina = new Piscina({ ...workerModule('load'), minThreads: threads, maxThreads: threads, idleTimeout: Infinity });
  }

  async load(task: LoadTask): Promise<LoadResult> {
    return unwrap(await this.timed(this.piscina.run({ op: 'load', ...task } satisfies PoolTask) as Promise<Carried<LoadResult>>));
  }

  async loadCached(task: CachedLoadTask): Promise<CachedLoadResult> {
    return unwrap(await this.timed(this.piscina.run({ op: 'cached', ...task } satisfies PoolTask) as Promise<Carried<CachedLoadResult>>));
  }

  /**
   * Resolves once the threads have loaded their code, so the first requests after start do not
   * share the CPU with module loading (measured: a just-started edge answered its first herd of
   * misses several times slower).
   */
  async ready(): Promise<void> {
    await Promise.all(Array.from({ length: this.threads }, () => this.piscina.run({ op: 'ping' } satisfies PoolTask)));
  }

  /** Re-reads `f`'s pages; false when its bytes no longer match its checksum. */
  async warm(f: WarmTask): Promise<boolean> {
    return unwrap(await this.timed(this.piscina.run({ op: 'warm', file: f.file, size: f.size, crc32c: f.crc32c } satisfies PoolTask) as Promise<Carried<boolean>>));
  }

  get stats(): PoolStats {
    return { queueSize: this.piscina.queueSize, threads: this.piscina.threads.length };
  }

  async close(): Promise<void> {
    await this.piscina.destroy();
  }

  private async timed<T>(p: Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await p;
    } finally {
      this.onTaskTime?.((performance.now() - t0) / 1000);
    }
  }
}
