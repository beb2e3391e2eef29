// The edge scenarios. Each one starts its own origin and a fresh edge (empty cache) per server,
// and stops both before the next server starts:
//
//   herd    N clients ask for one uncached object at the same instant: origin requests, first
//           and last byte times, every body compared with the original
//   hits    a set is filled, then wrk rotates over it: bytes per second from the cache
//   fill    wrk asks for objects that never repeat from an origin without delay: bytes per second
//           through the edge, and one origin request per object delivered
//   outage  a fresh set and a stale set are cached, the origin stops, every object is asked for
//           again and again: the share answered 200 with the right bytes; and an uncached object
import { setTimeout as sleep } from 'node:timers/promises';
import { wrkGenerator } from '../generators/wrk.js';
import { loadFigures, type LoadFigures, type LoadPlan, type LoadResult } from '../generators/types.js';
import { cpuSeconds, groupPids, portClosed, watched } from '../procs.js';
import { fetchChecked, herd, percentile, sweep, tally, type Fetched, type Sweep } from './client.js';
import { segdMetrics, segdMetricsDelta, startEdge, startOrigin, type EdgeName, type EdgeSettings, type OriginTiming, type RunningEdge, type RunningOrigin } from './edges.js';
import { ObjectBytes, objectPath, YEAR } from './objects.js';
import { diskTierCacheSize, poolBytes, type EdgeOptions, type SegdTier } from './options.js';

export interface EdgeContext {
  opts: EdgeOptions;
  pool: Buffer;
  /** Unique to this run, in every object name. */
  nonce: string;
}

/** One edge configuration: a server, and for segd's hits which tier answers. */
export interface Variant {
  server: EdgeName;
  /** Short id, in object names and JSON (segd-disk). */
  id: string;
  /** As the tables name it. */
  label: string;
  segdCacheSize?: string;
  tier?: SegdTier;
}

export interface RowBase {
  /** 'origin': the origin asked directly, the herd's reference. */
  server: EdgeName | 'origin';
  id: string;
  label: string;
  /** Why there is no figure (the edge failed to start, crashed, the run threw), else null. */
  skipped: string | null;
  /** What went wrong or looked odd: the edge's own error log lines, a crash, a kill. */
  notes: string[];
  config: string;
}

export function settingsFor(ctx: EdgeContext, v: Variant): EdgeSettings {
  const o = ctx.opts;
  return { segdCli: o.segdCli, segdCacheSize: v.segdCacheSize ?? o.segdCacheSize, diskBytes: o.diskBytes, varnishMalloc: o.varnishMalloc, cpu: o.pin ? 0 : null };
}

/** The variants of a scenario: segd twice in hits (memory tier, disk tier), once elsewhere; bare in hits only. */
export function variantsFor(ctx: EdgeContext, scenario: 'herd' | 'hits' | 'fill' | 'outage'): Variant[] {
  const o = ctx.opts;
  return o.servers.flatMap((server): Variant[] => {
    if (server === 'bare') return scenario === 'hits' ? [{ server, id: server, label: 'bare node:http' }] : [];
    if (server !== 'segd') return [{ server, id: server, label: server }];
    if (scenario !== 'hits') return [{ server, id: 'segd', label: 'segd', segdCacheSize: o.segdCacheSize }];
    return o.segdTiers.map((tier) =>
      tier === 'memory'
        ? { server, id: 'segd-memory', label: `segd (memory tier, --cache-size ${o.segdCacheSize})`, segdCacheSize: o.segdCacheSize, tier }
        : { server, id: 'segd-disk', label: `segd (disk tier, --cache-size ${diskTierCacheSize(o)})`, segdCacheSize: diskTierCacheSize(o), tier },
    );
  });
}

const GENERATOR_CPU = 1;
const FAST: Omit<OriginTiming, 'chunkBytes'> = { delayMs: 0, paceMs: 0 };

function origin(ctx: EdgeContext, timing: OriginTiming): Promise<RunningOrigin> {
  return startOrigin(timing, { seed: ctx.opts.seed, poolBytes: poolBytes(ctx.opts), cpu: ctx.opts.pin ? GENERATOR_CPU : null });
}

/** Lines of the edge's logs that report errors (segd's JSON diagnostics at warn and above, nginx's error log, Varnish's stderr). */
function problems(edge: RunningEdge): string[] {
  const text = `${edge.proc.stdout()}\n${edge.proc.stderr()}`;
  const lines = text.split('\n').filter((l) => {
    if (edge.name === 'segd') return /"level":(40|50|60)/.test(l);
    if (edge.name === 'varnish') return /panic|died|error|assert/i.test(l) && !/^Debug:/.test(l);
    return /\[(error|crit|alert|emerg)\]/.test(l);
  });
  const seen = new Map<string, number>();
  for (const l of lines) {
    let msg = l.trim();
    try {
      const j = JSON.parse(l) as { msg?: string; reason?: string; code?: string; err?: { message?: string } };
      msg = [j.msg, j.reason, j.code, j.err?.message].filter((x) => x !== undefined).join(': ');
    } catch {
      /* not JSON */
    }
    const key = msg.replace(/o\/\d+\/\d+\/[^\s:"]+/g, '<object>').slice(0, 300);
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  return [...seen].slice(0, 8).map(([m, n]) => `${m}${n > 1 ? ` (×${n})` : ''}`);
}

/**
 * Starts the origin and a fresh edge for `v`, runs `body`, and stops both whatever happens; the
 * row gets the edge's error lines, a crash or a kill as notes.
 */
async function withEdge<R extends RowBase>(
  ctx: EdgeContext,
  v: Variant,
  timing: OriginTiming,
  row: R,
  body: (edge: RunningEdge, origin: RunningOrigin) => Promise<void>,
  shared?: RunningOrigin,
): Promise<R> {
  let o: RunningOrigin | undefined = shared;
  let edge: RunningEdge | undefined;
  try {
    o ??= await origin(ctx, timing);
    edge = await startEdge(v.server, o.port, settingsFor(ctx, v), v.label);
    row.config = edge.config;
    await body(edge, o);
    if (edge.proc.hasExited()) throw new Error(`${v.server} exited during the run (${await edge.proc.exited})`);
  } catch (e) {
    row.skipped = (e as Error).message.split('\n')[0]!;
    ctx.opts.log(`  ${v.label}: ${row.skipped}`);
  } finally {
    if (edge) {
      row.notes.push(...problems(edge));
      const how = await edge.stop();
      if (how.includes('killed')) row.notes.push(how);
    }
    if (o && !shared) await o.stop();
  }
  return row;
}

const base = (v: Variant): RowBase => ({ server: v.server, id: v.id, label: v.label, skipped: null, notes: [], config: '' });

// ---- herd ------------------------------------------------------------------------------------

export interface HerdTrial {
  /** Objects in the edge's cache and origin requests for the herd's object, before it. */
  cachedBefore: number;
  originBefore: number;
  originRequests: number;
  clients: number;
  intact: number;
  p50TtfbMs: number;
  p50FirstBodyMs: number;
  p99TtlbMs: number;
  maxTtlbMs: number;
  statuses: Record<string, number>;
  caches: Record<string, number>;
  errors: Record<string, number>;
}

export interface HerdRow extends RowBase {
  /** cold: the edge's first requests since it started; warm: a second herd, same process. */
  phase: 'cold' | 'warm' | 'origin';
  trials: HerdTrial[];
}

function herdTrial(results: Fetched[], before: { cachedBefore: number; originBefore: number }, originRequests: number): HerdTrial {
  return {
    ...before,
    originRequests,
    clients: results.length,
    intact: results.filter((r) => r.intact).length,
    p50TtfbMs: percentile(results.map((r) => r.ttfbMs), 50),
    p50FirstBodyMs: percentile(results.map((r) => r.firstBodyMs), 50),
    p99TtlbMs: percentile(results.map((r) => r.ttlbMs), 99),
    maxTtlbMs: percentile(results.map((r) => r.ttlbMs), 100),
    statuses: tally(results.map((r) => String(r.status))),
    caches: tally(results.map((r) => r.cache || '(none)')),
    errors: tally(results.flatMap((r) => (r.error ? [r.error] : !r.intact ? ['wrong bytes'] : []))),
  };
}

/** The origin on its own, same timing: 1 client (its own first byte), then the whole herd. */
export async function herdBaseline(ctx: EdgeContext): Promise<HerdRow[]> {
  const o = ctx.opts;
  const rows: HerdRow[] = [];
  const org = await origin(ctx, o.origin);
  try {
    for (const clients of [1, o.herdClients]) {
      const row: HerdRow = { server: 'origin', id: `origin-${clients}`, label: `origin direct (${clients} client${clients > 1 ? 's' : ''})`, phase: 'origin', skipped: null, notes: [], config: '', trials: [] };
      // Median of three for the single client: it is the reference the edges are held to.
      for (let t = 0; t < (clients === 1 ? 3 : 1); t++) {
        const p = objectPath(o.herdBytes, `herd-${ctx.nonce}-direct${clients}-${t}`);
        const results = await herd(org.port, p, clients, new ObjectBytes(ctx.pool, p, o.herdBytes), 'x-none', 60_000);
        row.trials.push(herdTrial(results, { cachedBefore: 0, originBefore: 0 }, (await org.stats(p)).requests));
      }
      rows.push(row);
    }
  } finally {
    await org.stop();
  }
  return rows;
}

/**
 * Per trial, a fresh edge and two herds, each on its own uncached object: the first right after
 * the edge started (segd's JavaScript not yet optimised), the second in the same process. The
 * object is checked uncached before each: no origin request for it yet (and, first, an empty cache).
 */
export async function runHerd(ctx: EdgeContext, v: Variant): Promise<HerdRow[]> {
  const o = ctx.opts;
  const rows = (['cold', 'warm'] as const).map((phase): HerdRow => ({ ...base(v), id: `${v.id}-${phase}`, label: `${v.label} (${phase === 'cold' ? 'just started' : 'second herd'})`, phase, trials: [] }));
  const org = await origin(ctx, o.origin);
  try {
    for (let t = 0; t < o.herdTrials; t++) {
      await withEdge(ctx, v, o.origin, rows[0]!, async (edge) => {
        for (const row of rows) {
          const p = objectPath(o.herdBytes, `herd-${ctx.nonce}-${row.id}-${t}`);
          const before = { cachedBefore: await edge.cachedObjects(), originBefore: (await org.stats(p)).requests };
          if (before.originBefore !== 0 || (row.phase === 'cold' && before.cachedBefore !== 0)) throw new Error(`not a cold start: ${before.cachedBefore} objects cached, ${before.originBefore} origin requests for the object`);
          const results = await herd(edge.port, p, o.herdClients, new ObjectBytes(ctx.pool, p, o.herdBytes), edge.cacheHeader, 60_000);
          row.trials.push(herdTrial(results, before, (await org.stats(p)).requests));
          row.config = edge.config;
        }
      }, org);
      if (rows[0]!.skipped) break;
    }
  } finally {
    await org.stop();
  }
  rows[1]!.skipped = rows[0]!.skipped;
  return rows;
}

// ---- hits ------------------------------------------------------------------------------------

export interface WrkFigures extends LoadFigures {
  /** wrk counts statuses >= 400 only. */
  non2xx: number;
  originCpu: number;
  peakRssBytes: number;
}

/** Warm-up, then a measured wrk run with the edge's CPU and peak RSS (and the origin's CPU). */
async function measureWrk(ctx: EdgeContext, edge: RunningEdge, org: RunningOrigin, plan: (phase: 'warmup' | 'measure') => LoadPlan): Promise<WrkFigures & { wrk: LoadResult }> {
  const o = ctx.opts;
  const run = { baseUrl: edge.baseUrl, connections: o.connections, expectStatus: 200 };
  if (o.warmupSec > 0) await wrkGenerator.run({ ...run, plan: plan('warmup'), durationSec: o.warmupSec });
  const originPids = groupPids(org.proc.pid);
  const ocpu0 = cpuSeconds(originPids);
  const w = await watched(groupPids(edge.pid), () => wrkGenerator.run({ ...run, plan: plan('measure'), durationSec: o.durationSec }));
  const figures = loadFigures(w.result, o.durationSec, w.cpuSeconds);
  return {
    wrk: w.result,
    ...figures,
    non2xx: w.result.unexpectedStatus,
    originCpu: (cpuSeconds(originPids) - ocpu0) / figures.seconds,
    peakRssBytes: w.peakRssBytes,
  };
}

export interface HitsRow extends RowBase, Partial<WrkFigures> {
  tier?: SegdTier;
  /** Filling the set, then a second pass that should be all hits. */
  fill?: { objects: number; intact: number; originRequests: number; secondPass: Sweep };
  /** Origin requests during warm-up and measurement (0 when every answer is a hit). */
  originRequestsDuring?: number;
  /** segd only: hits by tier during the measurement. */
  tierHits?: Record<string, number>;
}

const expectOf = (ctx: EdgeContext, size: number) => (p: string): ObjectBytes => new ObjectBytes(ctx.pool, p, size);

/** Asks for every path once, checking bytes: a fill through the edge. */
async function fillSet(ctx: EdgeContext, edge: RunningEdge, paths: string[], size: number): Promise<Sweep> {
  const s = await sweep(edge.port, paths, expectOf(ctx, size), { concurrency: ctx.opts.sweepConcurrency, cacheHeader: edge.cacheHeader });
  if (s.intact !== paths.length) throw new Error(`filling ${paths.length} objects: ${s.intact} intact, statuses ${JSON.stringify(s.statuses)}, errors ${JSON.stringify(s.errors)}`);
  return s;
}

export async function runHits(ctx: EdgeContext, v: Variant): Promise<HitsRow> {
  const o = ctx.opts;
  const row: HitsRow = { ...base(v), tier: v.tier };
  return withEdge(ctx, v, o.origin, row, async (edge, org) => {
    const prefix = objectPath(o.objectBytes, `hits-${ctx.nonce}-${v.id}-`).replace(/\.m4s$/, '');
    const paths = Array.from({ length: o.hitsObjects }, (_, i) => `${prefix}${i}.m4s`);
    const first = await fillSet(ctx, edge, paths, o.objectBytes);
    const secondPass = await fillSet(ctx, edge, paths, o.objectBytes);
    const filled = (await org.stats(prefix)).requests;
    row.fill = { objects: paths.length, intact: first.intact, originRequests: filled, secondPass };
    const before = edge.name === 'segd' ? await segdMetrics(edge.port) : undefined;
    const m = await measureWrk(ctx, edge, org, () => ({ sequence: paths.map((path) => ({ method: 'GET', path })), random: false }));
    const { wrk: _wrk, ...figures } = m;
    Object.assign(row, figures);
    row.originRequestsDuring = (await org.stats(prefix)).requests - filled;
    if (before) row.tierHits = segdMetricsDelta(before, await segdMetrics(edge.port), /^segd_cache_hits_total\{tier="(\w+)"\}$/);
  });
}

// ---- fill ------------------------------------------------------------------------------------

export interface FillRow extends RowBase, Partial<WrkFigures> {
  /** Object bytes delivered per second (requests × object size; wrk's bytes include headers). */
  bodyBytesPerSec?: number;
  originRequests?: number;
  originMaxPerObject?: number;
  /** The first objects of the measurement asked for again and checked (hits by now). */
  sample?: Sweep;
  cachedAfter?: number;
}

const SAMPLE = 8;

export async function runFill(ctx: EdgeContext, v: Variant): Promise<FillRow> {
  const o = ctx.opts;
  const row: FillRow = base(v);
  return withEdge(ctx, v, { ...FAST, chunkBytes: o.origin.chunkBytes }, row, async (edge, org) => {
    const prefix = (phase: string): string => objectPath(o.objectBytes, `fill-${ctx.nonce}-${v.id}-${phase}-`).replace(/\.m4s$/, '');
    const m = await measureWrk(ctx, edge, org, (phase) => ({ sequence: [], random: false, numbered: { prefix: prefix(phase), suffix: '.m4s' } }));
    const { wrk: _wrk, ...figures } = m;
    Object.assign(row, figures);
    row.bodyBytesPerSec = (m.requests * o.objectBytes) / m.seconds;
    const stats = await org.stats(prefix('measure'));
    row.originRequests = stats.requests;
    row.originMaxPerObject = stats.maxPerObject;
    row.cachedAfter = await edge.cachedObjects();
    const sample = Array.from({ length: Math.min(SAMPLE, m.requests) }, (_, i) => `${prefix('measure')}${i}.m4s`);
    row.sample = await sweep(edge.port, sample, expectOf(ctx, o.objectBytes), { concurrency: 1, cacheHeader: edge.cacheHeader });
  });
}

// ---- outage ----------------------------------------------------------------------------------

export interface OutageSet {
  objects: number;
  maxAge: number;
  originRequests: number;
  /** Every object once, right after the origin stopped. */
  firstPass: Sweep;
  /** Round and round for --outage-seconds. */
  loop: Sweep;
}

export interface UncachedAnswer {
  status: number;
  ms: number;
  cache: string;
  error: string | null;
}

export interface OutageRow extends RowBase {
  sets?: { fresh: OutageSet; stale: OutageSet };
  /** An object never cached, asked for right after the origin stopped and again at the end. */
  uncached?: UncachedAnswer[];
}

/** The stale set's max-age: it has expired by the time the origin stops. */
const STALE_MAX_AGE = 1;

export async function runOutage(ctx: EdgeContext, v: Variant): Promise<OutageRow> {
  const o = ctx.opts;
  const row: OutageRow = base(v);
  return withEdge(ctx, v, o.origin, row, async (edge, org) => {
    const size = o.objectBytes;
    const expect = expectOf(ctx, size);
    const set = (kind: string, maxAge: number): { prefix: string; paths: string[] } => {
      const prefix = objectPath(size, `outage-${ctx.nonce}-${v.id}-${kind}-`, maxAge).replace(/\.m4s$/, '');
      return { prefix, paths: Array.from({ length: o.outageObjects }, (_, i) => `${prefix}${i}.m4s`) };
    };
    const fresh = set('fresh', YEAR);
    const stale = set('stale', STALE_MAX_AGE);
    await fillSet(ctx, edge, fresh.paths, size);
    await fillSet(ctx, edge, stale.paths, size);
    const filledAt = performance.now();
    const originRequests = { fresh: (await org.stats(fresh.prefix)).requests, stale: (await org.stats(stale.prefix)).requests };
    await sleep(Math.max(0, (STALE_MAX_AGE + 1.5) * 1000 - (performance.now() - filledAt)));
    await org.stop();
    if (!(await portClosed(org.port))) throw new Error('the origin still accepts connections after it was stopped');
    const uncached = async (n: number): Promise<UncachedAnswer> => {
      const p = objectPath(size, `outage-${ctx.nonce}-${v.id}-uncached-${n}`);
      const r = await fetchChecked({ port: edge.port, path: p, cacheHeader: edge.cacheHeader, expected: expect(p), timeoutMs: 60_000 });
      return { status: r.status, ms: Number.isFinite(r.ttlbMs) ? r.ttlbMs : r.ttfbMs, cache: r.cache, error: r.error };
    };
    row.uncached = [await uncached(0)];
    const sweepOpts = { concurrency: o.sweepConcurrency, cacheHeader: edge.cacheHeader };
    const firstFresh = await sweep(edge.port, fresh.paths, expect, sweepOpts);
    const firstStale = await sweep(edge.port, stale.paths, expect, sweepOpts);
    const until = performance.now() + o.outageSec * 1000;
    const half = { ...sweepOpts, concurrency: Math.max(1, Math.floor(o.sweepConcurrency / 2)), untilMs: until };
    const [loopFresh, loopStale] = await Promise.all([sweep(edge.port, fresh.paths, expect, half), sweep(edge.port, stale.paths, expect, half)]);
    row.uncached.push(await uncached(1));
    row.sets = {
      fresh: { objects: fresh.paths.length, maxAge: YEAR, originRequests: originRequests.fresh, firstPass: firstFresh, loop: loopFresh },
      stale: { objects: stale.paths.length, maxAge: STALE_MAX_AGE, originRequests: originRequests.stale, firstPass: firstStale, loop: loopStale },
    };
  });
}
