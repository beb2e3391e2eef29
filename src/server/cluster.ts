/**
 * Every core: a primary process that forks N workers (node:cluster), each a whole segd on the
 * shared listening sockets. The primary serves nothing itself; it keeps the workers alive,
 * rolls them over on reload, drains them on shutdown, and answers their /metrics for the group.
 *
 * - A worker that dies is replaced, with a log line and `segd_worker_restarts_total`; one that
 *   dies within RAPID_DEATH_MS of its start is replaced after a delay that doubles each time (up
 *   to MAX_BACKOFF_MS), so a worker that cannot live does not spin.
 * - reload(): a new generation of workers with the new configuration; once every one of them is
 *   listening, the old generation drains (stops accepting, finishes its responses, up to the
 *   grace) and exits, as nginx does. A new generation that fails to start is stopped and the old
 *   one keeps serving.
 * - /metrics from any worker shows every worker's series, each with its `worker` label, and the
 *   primary's own (merged by prom-client's AggregatorRegistry).
 * - An edge group (--origin): the primary is also the group's filler, the one process that
 *   fetches from the origin and owns the disk cache (src/store/disk/shared.ts); the messages
 *   between it and the workers go over the cluster's IPC channel (fillerLink, workerLink).
 */
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, Counter, Gauge, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { Diagnostics } from '../observe/log.js';
import type { DiskNotice, DiskReport, FillerLink, WorkerLink } from '../store/disk/shared.js';

/** A worker's configuration travels in this environment variable, as JSON. */
export const WORKER_CONFIG_ENV = 'SEGD_WORKER_CONFIG';
/** The group filler's address, in an edge group. */
export const FILLER_ENV = 'SEGD_FILLER';
const RAPID_DEATH_MS = 10_000;
const MAX_BACKOFF_MS = 60_000;
/** How long a new generation may take to listen before a reload gives up on it. */
const START_TIMEOUT_MS = 60_000;

/** Messages between the primary and its workers. */
type Collected = MetricObjectWithValues<MetricValue<string>>[];
type ToPrimary =
  | { segd: 'listening'; url: string; httpUrl: string | undefined }
  | { segd: 'metrics'; id: number }
  | { segd: 'collected'; id: number; metrics: Collected }
  | { segd: 'disk'; report: DiskReport }
  | { segd: 'closed' }
  | { segd: 'bye' };
type ToWorker =
  | { segd: 'drain' }
  | { segd: 'metrics'; id: number; contentType: string; body: string }
  | { segd: 'collect'; id: number }
  | { segd: 'disk'; notice: DiskNotice }
  | { segd: 'bye' };

/** How long the primary waits for a worker's metrics before it answers without them. */
const COLLECT_TIMEOUT_MS = 3000;

interface Slot {
  readonly generation: number;
  readonly config: string;
  worker: Worker;
  startedAt: number;
  rapidDeaths: number;
}

export class Supervisor {
  private generation = 0;
  private readonly slots = new Set<Slot>();
  private stopping = false;
  private readonly own = new Registry();
  /** Registries of the primary's besides its own (the filler's), in the group's metrics. */
  private readonly extra: Registry[] = [];
  private collecting = 0;
  private readonly collections = new Map<number, (m: Collected | undefined) => void>();
  private readonly reports: ((r: DiskReport) => void)[] = [];
  private readonly restarts = new Counter({ name: 'segd_worker_restarts_total', help: 'Workers that died and were replaced', registers: [this.own] });
  url: string | undefined;
  httpUrl: string | undefined;

  /** Environment for every worker besides its configuration. */
  private env: Record<string, string> = {};

  constructor(
    private readonly count: number,
    private readonly diag: Diagnostics,
  ) {
    const slots = this.slots;
    new Gauge({ name: 'segd_workers', help: 'Worker processes alive', registers: [this.own], collect() { this.set([...slots].filter((s) => !s.worker.isDead()).length); } });
    cluster.on('message', (worker: Worker, m: ToPrimary) => {
      if (m?.segd === 'metrics') void this.groupMetrics().then((r) => send(worker, { segd: 'metrics', id: m.id, ...r }));
      else if (m?.segd === 'collected') this.collections.get(m.id)?.(m.metrics);
      else if (m?.segd === 'disk') for (const f of this.reports) f(m.report);
      else if (m?.segd === 'closed') send(worker, { segd: 'bye' });
    });
  }

  /** Starts the first generation (`env`: for every worker, now and later); resolves when every worker listens, rejects if one cannot. */
  start(config: string, env: Record<string, string> = {}): Promise<void> {
    this.env = env;
    return this.spawnGeneration(config);
  }

  /** A new generation with `config`; the old one drains once it listens. False (old kept) if it cannot start. */
  async reload(config: string): Promise<boolean> {
    const old = [...this.slots];
    try {
      await this.spawnGeneration(config);
    } catch (err) {
      this.diag.error('reload failed: the new workers did not start; the old ones keep serving', { reason: (err as Error).message });
      return false;
    }
    for (const s of old) {
      this.slots.delete(s);
      send(s.worker, { segd: 'drain' });
    }
    this.diag.info('reloaded: new workers serve, the old ones drain', { generation: this.generation, workers: this.count });
    return true;
  }

  /** Every worker drains and exits (each within its grace); resolves when all are gone. */
  async stop(): Promise<void> {
    this.stopping = true;
    const exits = Object.values(cluster.workers ?? {}).map((w) => (w === undefined || w.isDead() ? Promise.resolve() : new Promise<void>((resolve) => w.once('exit', () => resolve()))));
    for (const w of Object.values(cluster.workers ?? {})) if (w !== undefined) send(w, { segd: 'drain' });
    await Promise.all(exits);
  }

  /** The filler's end of the group's link: its notices go to every worker, their reports come to it. */
  fillerLink(): FillerLink {
    return {
      role: 'filler',
      notify: (notice) => {
        for (const w of Object.values(cluster.workers ?? {})) if (w !== undefined) send(w, { segd: 'disk', notice });
      },
      onReport: (f) => void this.reports.push(f),
    };
  }

  /** `registry` (labelled `worker`: `name`) joins the group's metrics. */
  addMetrics(registry: Registry, name: string): void {
    registry.setDefaultLabels({ worker: name });
    this.extra.push(registry);
  }

  /** Every live worker's metrics, the primary's and the extra registries', merged; a worker that does not answer in time is left out. */
  private async groupMetrics(): Promise<{ contentType: string; body: string }> {
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && w.isConnected());
    const parts = await Promise.all([...workers.map((w) => this.collect(w)), ...[this.own, ...this.extra].map((r) => r.getMetricsAsJSON() as Promise<Collected>)]);
    const merged = AggregatorRegistry.aggregate(parts.filter((p): p is Collected => p !== undefined));
    return { contentType: this.own.contentType, body: await merged.metrics() };
  }

  private collect(worker: Worker): Promise<Collected | undefined> {
    const id = ++this.collecting;
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(undefined), COLLECT_TIMEOUT_MS).unref();
      const done = (m: Collected | undefined): void => {
        clearTimeout(timer);
        this.collections.delete(id);
        resolve(m);
      };
      this.collections.set(id, done);
      send(worker, { segd: 'collect', id });
    });
  }

  private spawnGeneration(config: string): Promise<void> {
    const generation = ++this.generation;
    const started: Promise<void>[] = [];
    const fresh: Slot[] = [];
    for (let i = 0; i < this.count; i++) {
      const slot: Slot = { generation, config, worker: undefined as unknown as Worker, startedAt: 0, rapidDeaths: 0 };
      started.push(this.fork(slot));
      fresh.push(slot);
    }
    const all = Promise.all(started).then(() => undefined);
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`workers did not listen within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS).unref());
    return Promise.race([all, timeout]).catch((err: unknown) => {
      for (const s of fresh) {
        this.slots.delete(s);
        if (!s.worker.isDead()) s.worker.kill('SIGKILL');
      }
      throw err;
    });
  }

  /** Forks the slot's worker; resolves once it listens, rejects if it exits first. */
  private fork(slot: Slot): Promise<void> {
    const worker = cluster.fork({ ...this.env, [WORKER_CONFIG_ENV]: slot.config });
    slot.worker = worker;
    slot.startedAt = Date.now();
    this.slots.add(slot);
    return new Promise<void>((resolve, reject) => {
      let listening = false;
      worker.on('message', (m: ToPrimary) => {
        if (m?.segd !== 'listening') return;
        listening = true;
        this.url ??= m.url;
        this.httpUrl ??= m.httpUrl;
        resolve();
      });
      worker.once('exit', (code, signal) => {
        if (!listening) reject(new Error(`a worker exited before listening (code ${code}${signal ? `, ${signal}` : ''})`));
        if (listening) this.replace(slot, code, signal);
      });
    });
  }

  /** A listening worker died: replace it, later and later if it keeps dying young. */
  private replace(slot: Slot, code: number | null, signal: string | null): void {
    if (this.stopping || !this.slots.has(slot)) return; // draining on purpose
    this.restarts.inc();
    const lived = Date.now() - slot.startedAt;
    slot.rapidDeaths = lived < RAPID_DEATH_MS ? slot.rapidDeaths + 1 : 0;
    const delay = slot.rapidDeaths === 0 ? 0 : Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (slot.rapidDeaths - 1));
    this.diag.error('a worker died; starting another', { pid: slot.worker.process.pid, code, signal, livedMs: lived, restartInMs: delay });
    setTimeout(() => {
      if (this.stopping || !this.slots.has(slot)) return;
      this.fork(slot).catch((err: unknown) => {
        this.diag.error('a replacement worker did not start', { reason: (err as Error).message });
        this.replace(slot, null, null);
      });
    }, delay).unref();
  }
}

function send(worker: Worker, m: ToWorker): void {
  if (worker.isConnected()) worker.send(m);
}

/** In a worker: this registry's metrics, each series labelled with the worker, answer the primary's collections. */
export function shareMetrics(registry: Registry, worker: number): void {
  registry.setDefaultLabels({ worker: String(worker) });
  process.on('message', (m: ToWorker) => {
    if (m?.segd !== 'collect') return;
    void registry.getMetricsAsJSON().then((metrics) => process.send?.({ segd: 'collected', id: m.id, metrics: metrics as Collected } satisfies ToPrimary));
  });
}

/** In a worker of an edge group: its end of the link to the filler at `filler`. */
export function workerLink(filler: string): WorkerLink {
  return {
    role: 'worker',
    filler,
    report: (report) => {
      if (process.connected) process.send?.({ segd: 'disk', report } satisfies ToPrimary);
    },
    onNotice: (f) =>
      void process.on('message', (m: ToWorker) => {
        if (m?.segd === 'disk') f(m.notice);
      }),
  };
}

/**
 * In a worker: tells the primary it listens, drains on its word, and asks it for the group's
 * metrics. `farewell()` is for the end of a drain: the primary may have handed this worker a
 * connection just before it saw the worker's listener close; the worker turns such a handover
 * down (the primary then gives it to another worker) only while it is alive, and only if that
 * reply gets out. The channel is ordered: once the primary answers a farewell nothing more is on
 * its way, and once the worker's own last message is written, so are its replies.
 */
export function workerChannel(o: { url: string; httpUrl: string | undefined; drain: () => void }): { groupMetrics: () => Promise<{ contentType: string; body: string }>; farewell: () => Promise<void> } {
  let next = 0;
  const waiting = new Map<number, (r: { contentType: string; body: string }) => void>();
  let bye: (() => void) | undefined;
  process.on('message', (m: ToWorker) => {
    if (m?.segd === 'drain') o.drain();
    // The last word, and only once it is written: a worker that exits with a reply to a
    // handover still queued loses the connection (the primary never hears back about it).
    else if (m?.segd === 'bye') process.send?.({ segd: 'bye' } satisfies ToPrimary, () => bye?.());
    else if (m?.segd === 'metrics') {
      waiting.get(m.id)?.({ contentType: m.contentType, body: m.body });
      waiting.delete(m.id);
    }
  });
  process.send?.({ segd: 'listening', url: o.url, httpUrl: o.httpUrl } satisfies ToPrimary);
  return {
    groupMetrics: () =>
      new Promise((resolve, reject) => {
        const id = ++next;
        waiting.set(id, resolve);
        setTimeout(() => {
          if (waiting.delete(id)) reject(new Error('the primary did not answer'));
        }, 5000).unref();
        process.send?.({ segd: 'metrics', id } satisfies ToPrimary);
      }),
    farewell: () =>
      new Promise<void>((resolve) => {
        bye = resolve;
        setTimeout(resolve, 2000).unref(); // a primary gone already answers nothing
        if (process.connected) process.send?.({ segd: 'closed' } satisfies ToPrimary);
        else resolve();
      }),
  };
}
