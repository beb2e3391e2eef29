// What the soak records every --sample seconds: segd's memory, descriptors and mappings seen
// from outside (/proc), and its heap, external memory and event-loop delay from its /metrics.
import http from 'node:http';
import { loopDelayMs } from '../../src/observe/metrics.js';
import { FULL_CONTENT } from '../options.js';
import { cpuSeconds, groupPids, mappingCount, openFds, statusKiB } from '../procs.js';
import type { Tally } from './traffic.js';

export interface Sample {
  /** Seconds since the traffic started. */
  t: number;
  rss: number;
  /** Anonymous resident memory (RssAnon): heap, malloc; not the mapped files segd serves. */
  anon: number;
  heapUsed: number;
  /** V8 heap committed: young generation growth under load shows here, and in anonymous RSS. */
  heapTotal: number;
  /** V8's external memory: Buffers outside the heap, the cache's mappings included. */
  external: number;
  /** Open descriptors other than sockets. */
  fds: number;
  sockets: number;
  maps: number;
  /** Event-loop delay over the interval (prom-client resets its histogram on every scrape), ms. */
  loopP99: number;
  loopMax: number;
  /** segd's CPU over the interval, in cores. */
  cpu: number;
  cacheBytes: number;
  /** Exchanges the soak's clients finished per second over the interval. */
  reqPerSec: number;
  /** Unexplained errors so far. */
  unexplained: number;
  /** segd_requests_total by status, so far. */
  segdStatus: Record<string, number>;
}

export type NumericKey = { [K in keyof Sample]: Sample[K] extends number ? K : never }[keyof Sample];

export interface MetricDef {
  key: NumericKey;
  label: string;
  unit: 'MiB' | 'ms' | 'cores' | 'req/s' | '';
  /**
   * Judged metrics: growth counts when it exceeds `share` of the metric's level or `floor`
   * (in the sample's own unit: bytes, ms, count), whichever is larger.
   */
  tolerance?: { share: number; floor: number };
}

const MiB = 1024 * 1024;

/**
 * RSS and external memory include the mappings of the files being sent, which come and go a
 * whole file at a time as slow clients start and finish and as the GC finalizes views: one
 * mapping of the content's largest file (range/main.mp4) more or less is not growth.
 */
const LARGEST_FILE = FULL_CONTENT.rangeFileBytes;

/** Every charted metric, judged ones first. */
export const METRICS: MetricDef[] = [
  { key: 'anon', label: 'anonymous RSS', unit: 'MiB', tolerance: { share: 0.1, floor: 8 * MiB } },
  { key: 'rss', label: 'RSS', unit: 'MiB', tolerance: { share: 0.1, floor: LARGEST_FILE } },
  { key: 'heapUsed', label: 'V8 heap used', unit: 'MiB', tolerance: { share: 0.1, floor: 4 * MiB } },
  { key: 'external', label: 'V8 external memory', unit: 'MiB', tolerance: { share: 0.1, floor: LARGEST_FILE } },
  { key: 'fds', label: 'open descriptors (not sockets)', unit: '', tolerance: { share: 0.1, floor: 4 } },
  { key: 'sockets', label: 'open sockets', unit: '', tolerance: { share: 0.25, floor: 32 } },
  { key: 'maps', label: 'memory mappings', unit: '', tolerance: { share: 0.1, floor: 32 } },
  { key: 'loopP99', label: 'event-loop delay p99', unit: 'ms', tolerance: { share: 0.5, floor: 5 } },
  { key: 'unexplained', label: 'unexplained errors (total)', unit: '' },
  { key: 'heapTotal', label: 'V8 heap committed', unit: 'MiB' },
  { key: 'cpu', label: 'segd CPU', unit: 'cores' },
  { key: 'reqPerSec', label: 'client exchanges', unit: 'req/s' },
  { key: 'cacheBytes', label: 'segd cache', unit: 'MiB' },
];

/** A sample's value in the unit it is shown in. */
export const shown = (def: MetricDef, v: number): number => (def.unit === 'MiB' ? v / MiB : v);

interface PromValue {
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text format: name, labels and value of every sample line. */
export function parseProm(text: string): Map<string, PromValue[]> {
  const out = new Map<string, PromValue[]>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    const list = out.get(m[1]!) ?? [];
    list.push({ labels, value: Number(m[3]) });
    out.set(m[1]!, list);
  }
  return out;
}

function scrape(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/metrics', agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('timeout', () => req.destroy(new Error('no answer in 10 s')));
    req.on('error', reject);
  });
}

export class Sampler {
  private lastAt = Date.now();
  private lastCpu: number;
  private lastFinished = 0;

  constructor(
    private readonly pid: number,
    private readonly port: number,
    private readonly tally: Tally,
    private readonly t0: number,
  ) {
    this.lastCpu = cpuSeconds(groupPids(pid));
  }

  async take(): Promise<Sample> {
    const now = Date.now();
    const seconds = Math.max(0.001, (now - this.lastAt) / 1000);
    const cpu = cpuSeconds(groupPids(this.pid));
    const fds = openFds(this.pid);
    const proc = {
      rss: statusKiB(this.pid, 'VmRSS') * 1024,
      anon: statusKiB(this.pid, 'RssAnon') * 1024,
      fds: fds.others,
      sockets: fds.sockets,
      maps: mappingCount(this.pid),
      cpu: (cpu - this.lastCpu) / seconds,
      reqPerSec: (this.tally.finished - this.lastFinished) / seconds,
    };
    this.lastAt = now;
    this.lastCpu = cpu;
    this.lastFinished = this.tally.finished;
    let prom = new Map<string, PromValue[]>();
    try {
      prom = parseProm(await scrape(this.port));
    } catch (e) {
      this.tally.bad('scrape', 'GET /metrics failed', (e as Error).message);
    }
    const one = (name: string): number => prom.get(name)?.[0]?.value ?? NaN;
    const segdStatus: Record<string, number> = {};
    for (const v of prom.get('segd_requests_total') ?? []) {
      const status = v.labels.status ?? '?';
      segdStatus[status] = (segdStatus[status] ?? 0) + v.value;
    }
    return {
      t: (now - this.t0) / 1000,
      ...proc,
      heapUsed: one('nodejs_heap_size_used_bytes'),
      heapTotal: one('nodejs_heap_size_total_bytes'),
      external: one('nodejs_external_memory_bytes'),
      loopP99: loopDelayMs(one('nodejs_eventloop_lag_p99_seconds')),
      loopMax: loopDelayMs(one('nodejs_eventloop_lag_max_seconds')),
      cacheBytes: one('segd_cache_bytes'),
      unexplained: this.tally.unexplained,
      segdStatus,
    };
  }
}
