/**
 * Every metric segd exports, in one place (Prometheus text format via prom-client).
 * The per-request counters are tallied in plain numbers and handed to prom-client when
 * /metrics is scraped, so counting a request costs one Map lookup and an increment.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type CounterConfiguration } from 'prom-client';
import type { ContentKind } from '../http/content-type.js';

export type RequestKind = ContentKind | 'internal';

/** Where a hit was answered from: the memory tier, the read tier (a folder's), the disk tier (an edge's). */
export type CacheTier = 'memory' | 'read' | 'disk';

/**
 * The period of prom-client's event-loop timer. Its nodejs_eventloop_lag_* figures are that
 * timer's whole intervals (Node's monitorEventLoopDelay records them so), so an idle loop shows
 * about this much and the delay is what exceeds it.
 */
export const LOOP_RESOLUTION_MS = 10;

/** The delay in a nodejs_eventloop_lag_* figure (seconds): what exceeds the timer's period, in ms. */
export const loopDelayMs = (seconds: number): number => Math.max(0, seconds * 1000 - LOOP_RESOLUTION_MS);

const KIND_INDEX: Record<RequestKind, number> = { playlist: 0, segment: 1, other: 2, internal: 3 };

export interface MetricSources {
  cacheBytes(): number;
  cacheEntries(): number;
  /** Files the read tier holds, each with an open descriptor. */
  readTierFiles(): number;
  poolQueueDepth(): number;
  /** SIGBUS faults the native addon repaired in this process so far. */
  sigbusRepairs(): number;
  /** The native addon's mapping handles not finalized yet, on every thread. */
  nativeHandles(): number;
}

/** What an edge (--origin) reports besides: read at scrape time. */
export interface EdgeSources {
  diskBytes(): number;
  diskObjects(): number;
  fillsInFlight(): number;
  fillBytes(): number;
  /** 0 closed, 1 half-open, 2 open. */
  breakerState(): number;
}

export interface EdgeMetrics {
  readonly originRequests: Counter<'status'>;
  readonly originBytes: Counter;
  readonly originFirstByte: Histogram;
  readonly originRetries: Counter;
  readonly originShortCircuits: Counter;
  readonly originResumes: Counter;
  readonly collapsed: Counter;
  readonly staleServed: Counter<'reason'>;
  readonly diskEvictions: Counter;
  readonly diskErrors: Counter<'op'>;
  readonly diskCorrupt: Counter;
  readonly fillsDiscarded: Counter<'reason'>;
  readonly groupReports: Counter<'kind'>;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly requestTally = new Map<number, { status: string; kind: RequestKind; n: number }>();
  private readonly bytesTally: Tally<RequestKind> = { playlist: 0, segment: 0, other: 0, internal: 0 };
  private readonly hitTally: Tally<CacheTier> = { memory: 0, read: 0, disk: 0 };
  readonly cacheMisses: Counter;
  readonly cacheEvictions: Counter;
  readonly cacheRewarms: Counter;
  readonly diskReads: Counter;
  readonly directReads: Counter;
  readonly cachePromotions: Counter;
  readonly changedUnderRead: Counter;
  readonly integrityFailures: Counter;
  readonly poolTaskSeconds: Histogram;
  readonly connectionsRefused: Counter<'reason'>;
  readonly connectionsReclaimed: Counter;
  readonly tlsReloads: Counter<'result'>;
  readonly tlsHandshakeFailures: Counter;
  /** Read at scrape time; the server sets it when it starts. */
  openConnections: () => number = () => 0;
  /** In a worker of a group (server/cluster.ts): every worker's metrics, asked of the primary; /metrics then shows these. */
  group: (() => Promise<{ contentType: string; body: string }>) | undefined;

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    const counter = <L extends string>(c: CounterConfiguration<L>): Counter<L> => new Counter({ ...c, registers });
    const requestTally = this.requestTally;
    const bytesTally = this.bytesTally;
    counter({
      name: 'segd_requests_total',
      help: 'Responses sent, by status code and content kind',
      labelNames: ['status', 'kind'],
      collect() {
        for (const t of requestTally.values()) {
          if (t.n > 0) this.labels(t.status, t.kind).inc(t.n);
          t.n = 0;
        }
      },
    });
    counter({
      name: 'segd_body_bytes_sent_total',
      help: 'Response body bytes handed to sockets',
      labelNames: ['kind'],
      collect() {
        flush(bytesTally, this);
      },
    });
    const hitTally = this.hitTally;
    counter({
      name: 'segd_cache_hits_total',
      help: 'Requests answered from a cache tier (memory; read: from the file, checked block by block; disk for an edge)',
      labelNames: ['tier'],
      collect() {
        flush(hitTally, this);
      },
    });
    this.cacheMisses = counter({ name: 'segd_cache_misses_total', help: 'Objects loaded through the worker pool' });
    this.cacheEvictions = counter({ name: 'segd_cache_evictions_total', help: 'Objects evicted to stay within the cache size' });
    this.cacheRewarms = counter({ name: 'segd_cache_rewarms_total', help: 'Cached objects whose pages the kernel had dropped, read back in the pool before sending' });
    this.cachePromotions = counter({ name: 'segd_cache_promotions_total', help: 'Objects of the read tier that turned hot and were loaded back into the memory tier' });
    this.diskReads = counter({ name: 'segd_read_tier_disk_reads_total', help: 'Reads of the read tier that found bytes outside the page cache and read them off the event loop' });
    this.directReads = counter({ name: 'segd_read_tier_direct_reads_total', help: 'Of those, reads that bypassed the page cache (O_DIRECT): the object had left it within a minute of its last pass through it' });
    this.changedUnderRead = counter({ name: 'segd_read_tier_mismatches_total', help: 'Reads whose bytes no longer matched their checksums (a file rewritten in place, or bit rot: read-tier blocks, and pages of the memory tier read back): the response was cut short' });
    this.integrityFailures = counter({ name: 'segd_integrity_failures_total', help: 'Files refused because their bytes did not match the manifest' });
    this.connectionsRefused = counter({ name: 'segd_connections_refused_total', help: 'Connections closed at accept: over the per-address limit, or every slot busy', labelNames: ['reason'] });
    this.connectionsReclaimed = counter({ name: 'segd_connections_reclaimed_total', help: 'Idle connections closed to make room when every slot was taken' });
    this.tlsReloads = counter({ name: 'segd_tls_reloads_total', help: 'Certificate reloads (SIGHUP or a changed file): ok, or failed and the old certificate kept', labelNames: ['result'] });
    this.tlsHandshakeFailures = counter({ name: 'segd_tls_handshake_failures_total', help: 'TLS connections that failed before a request (bad client hello, no common cipher or protocol, timeout)' });
    const openConnections = (): number => this.openConnections();
    new Gauge({ name: 'segd_connections', help: 'Client connections open', registers, collect() { this.set(openConnections()); } });
    this.poolTaskSeconds = new Histogram({
      name: 'segd_pool_task_seconds',
      help: 'Worker pool task time, queueing included',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    new Gauge({ name: 'segd_cache_bytes', help: 'Bytes held by the hot cache', registers, collect() { this.set(sources.cacheBytes()); } });
    new Gauge({ name: 'segd_cache_entries', help: 'Objects held by the hot cache', registers, collect() { this.set(sources.cacheEntries()); } });
    new Gauge({ name: 'segd_read_tier_files', help: 'Files the read tier serves by reading them (each keeps a descriptor open)', registers, collect() { this.set(sources.readTierFiles()); } });
    new Gauge({ name: 'segd_pool_queue_depth', help: 'Tasks waiting for a pool thread', registers, collect() { this.set(sources.poolQueueDepth()); } });
    let repairs = 0;
    counter({
      name: 'segd_sigbus_repairs_total',
      help: 'SIGBUS faults on files truncated while mapped (written in place), repaired by the native addon',
      collect() {
        const now = sources.sigbusRepairs();
        if (now > repairs) this.inc(now - repairs);
        repairs = now;
      },
    });
    new Gauge({
      name: 'segd_native_handles',
      help: 'Mapping handles of the native addon not finalized yet, pool threads included (grows without bound if a thread never runs its finalizers)',
      registers,
      collect() {
        this.set(sources.nativeHandles());
      },
    });
    // Includes nodejs_eventloop_lag_* (event-loop delay), heap, RSS and handles.
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: LOOP_RESOLUTION_MS });
  }

  /** The edge's metrics (origin, disk tier, fills), registered when segd runs with an origin. */
  edge(sources: EdgeSources): EdgeMetrics {
    const registers = [this.registry];
    const counter = <L extends string>(c: CounterConfiguration<L>): Counter<L> => new Counter({ ...c, registers });
    new Gauge({ name: 'segd_disk_bytes', help: 'Bytes the disk tier holds (whole 4 KiB blocks)', registers, collect() { this.set(sources.diskBytes()); } });
    new Gauge({ name: 'segd_disk_objects', help: 'Objects the disk tier holds', registers, collect() { this.set(sources.diskObjects()); } });
    new Gauge({ name: 'segd_fills_in_flight', help: 'Origin fetches in progress', registers, collect() { this.set(sources.fillsInFlight()); } });
    new Gauge({ name: 'segd_fill_memory_bytes', help: 'Body bytes the origin fetches in progress hold in memory', registers, collect() { this.set(sources.fillBytes()); } });
    new Gauge({ name: 'segd_origin_breaker_state', help: 'Origin circuit breaker: 0 closed, 1 half-open, 2 open', registers, collect() { this.set(sources.breakerState()); } });
    return {
      originRequests: counter({ name: 'segd_origin_requests_total', help: 'Origin requests by status (or network error code)', labelNames: ['status'] }),
      originBytes: counter({ name: 'segd_origin_bytes_total', help: 'Body bytes received from the origin' }),
      originFirstByte: new Histogram({
        name: 'segd_origin_first_byte_seconds',
        help: 'Time from an origin request to its response headers',
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
        registers,
      }),
      originRetries: counter({ name: 'segd_origin_retries_total', help: 'Origin requests retried after a network error or a 5xx' }),
      originShortCircuits: counter({ name: 'segd_origin_short_circuits_total', help: 'Requests the open circuit breaker failed at once' }),
      originResumes: counter({ name: 'segd_origin_resumes_total', help: 'Bodies that broke midway and were resumed with a range request' }),
      collapsed: counter({ name: 'segd_collapsed_requests_total', help: 'Requests that waited on another request\'s origin fetch instead of making their own' }),
      staleServed: counter({ name: 'segd_stale_served_total', help: 'Stale objects served: while revalidating, or because the origin failed', labelNames: ['reason'] }),
      diskEvictions: counter({ name: 'segd_disk_evictions_total', help: 'Objects evicted from the disk tier to stay within its quota' }),
      diskErrors: counter({ name: 'segd_disk_errors_total', help: 'Disk tier operations that failed (the object was served without the disk)', labelNames: ['op'] }),
      diskCorrupt: counter({ name: 'segd_disk_corrupt_total', help: 'Disk objects whose bytes or trailer were wrong: dropped and fetched again' }),
      fillsDiscarded: counter({ name: 'segd_fills_discarded_total', help: 'Origin fetches that ended without a complete, checked object', labelNames: ['reason'] }),
      groupReports: counter({ name: 'segd_group_disk_reports_total', help: "The workers' reports to the filler of an edge group: hits (for eviction; at most 3 per object a second) and objects found corrupt", labelNames: ['kind'] }),
    };
  }

  /** A read of the read tier went to the disk; `direct`: past the page cache. */
  diskRead(direct: boolean): void {
    this.diskReads.inc();
    if (direct) this.directReads.inc();
  }

  request(status: number, kind: RequestKind): void {
    const key = status * 4 + KIND_INDEX[kind];
    const t = this.requestTally.get(key);
    if (t !== undefined) t.n++;
    else this.requestTally.set(key, { status: String(status), kind, n: 1 });
  }

  body(kind: RequestKind, bytes: number): void {
    this.bytesTally[kind] += bytes;
  }

  /** A request answered from a cache tier. */
  hit(tier: CacheTier): void {
    this.hitTally[tier]++;
  }
}

/** Counts by one label's value, handed to prom-client at scrape time. */
type Tally<K extends string> = Record<K, number>;

function flush<K extends string>(tally: Tally<K>, counter: Counter<string>): void {
  for (const value of Object.keys(tally) as K[]) {
    if (tally[value] > 0) counter.labels(value).inc(tally[value]);
    tally[value] = 0;
  }
}
