/** Worker pool for the catalogue (piscina), running workers/hash.ts. */
import { Piscina } from 'piscina';
import { availableParallelism } from 'node:os';
import { workerModule } from '../pool/load-pool.js';
import type { HashOutcome, HashTask } from '../pool/tasks.js';
import { unwrap, type Carried } from '../pool/carry.js';
import type { ParsedPlaylist } from './types.js';

/** Indexing and verifying have the machine to themselves: every core (serving keeps one free). */
export function catalogueThreads(): number {
  return availableParallelism();
}

export class CataloguePool {
  private readonly pool: Piscina;

  constructor(threads = catalogueThreads()) {
    this.pool = new Piscina({
      ...workerModule('hash'),
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: 1_000,
    });
  }

  async hash(task: HashTask): Promise<HashOutcome> {
    return unwrap((await this.pool.run(task)) as Carried<HashOutcome>);
  }

  parse(path: string, rel: string): Promise<ParsedPlaylist> {
    return this.pool.run({ path, rel }, { name: 'parse' }) as Promise<ParsedPlaylist>;
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
