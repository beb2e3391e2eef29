// The edge bench's report: one table per scenario with segd ÷ nginx and segd ÷ varnish, the
// issue's goals checked, and the JSON, markdown and SVG renderings.
import { barChartSvg, type ChartGroup } from '../chart.js';
import { alignedTable, fmt, fmtMs, markdownTable } from '../report.js';
import type { Sweep } from './client.js';
import type { EdgeScenario } from './options.js';
import type { FillRow, HerdRow, HitsRow, OutageRow, RowBase } from './scenarios.js';

export interface EdgeReport {
  startedAt: string;
  finishedAt: string;
  quick: boolean;
  command: string;
  options: Record<string, unknown>;
  machine: { cpus: number; loadavgStart: number[]; loadavgEnd: number[]; node: string };
  pinned: boolean;
  tools: Record<string, string | null>;
  scenarios: EdgeScenario[];
  herd?: { baseline: HerdRow[]; rows: HerdRow[] };
  hits?: HitsRow[];
  fill?: FillRow[];
  outage?: OutageRow[];
  goals: Goal[];
  notes: string[];
}

export interface Goal {
  scenario: EdgeScenario;
  goal: string;
  /** null: not measured (a server missing or skipped). */
  met: boolean | null;
  detail: string;
}

interface Table {
  title: string;
  header: string[];
  rows: string[][];
  numeric: Set<number>;
  footnotes: string[];
}

const median = (v: number[]): number => {
  const s = v.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const gb = (bytesPerSec: number | undefined): string => fmt((bytesPerSec ?? NaN) / 1e9, 2);
/** Server CPU seconds per GB delivered: what a byte costs, whatever share of the CPU the edge got. */
const cpuPerGb = (cores: number | undefined, bytesPerSec: number | undefined): string => fmt((cores ?? NaN) / ((bytesPerSec ?? NaN) / 1e9), 2);
const ratio = (a: number | undefined, b: number | undefined): string => (a !== undefined && b !== undefined && b > 0 && Number.isFinite(a) ? fmt(a / b, 2) : '-');
const measured = <R extends RowBase>(r: R | undefined): r is R => r !== undefined && r.skipped === null;

/** Compact "value ×n" list, most frequent first, without segd's "segd; " prefix. */
function counts(t: Record<string, number>, max = 4): string {
  const e = Object.entries(t).sort((a, b) => b[1] - a[1]);
  const out = e.slice(0, max).map(([k, n]) => `${k.replace(/^segd; /, '')} ×${n}`);
  if (e.length > max) out.push(`+${e.length - max} more`);
  return out.join(', ');
}

function merge(ts: Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of ts) for (const [k, n] of Object.entries(t)) out[k] = (out[k] ?? 0) + n;
  return out;
}

function baselineOf<R extends RowBase>(rows: R[], server: 'nginx' | 'varnish' | 'bare'): R | undefined {
  return rows.find((r) => r.server === server && r.skipped === null);
}

/** A table row: the label and `cells(r)`, or dashes and why the row was skipped. */
function rowOf<R extends RowBase>(r: R, width: number, cells: (r: R) => string[]): string[] {
  return r.skipped === null ? [r.label, ...cells(r)] : [r.label, ...Array<string>(width - 3).fill('-'), '', `skipped: ${r.skipped}`];
}

/** A segd row's "segd ÷ nginx" and "segd ÷ varnish" cells (empty on the other rows); hits add "segd ÷ bare". */
function ratioCells<R extends RowBase>(r: R, rows: R[], value: (x: R) => number | undefined, baselines: readonly ('nginx' | 'varnish' | 'bare')[] = ['nginx', 'varnish']): string[] {
  if (r.server !== 'segd') return baselines.map(() => '');
  return baselines.map((server) => {
    const b = baselineOf(rows, server);
    return ratio(value(r), b ? value(b) : undefined);
  });
}

// ---- per scenario ----------------------------------------------------------------------------

interface HerdSummary {
  p50TtfbMs: number;
  p50FirstBodyMs: number;
  p99TtlbMs: number;
  origin: number[];
  intact: number;
  clients: number;
}

function herdSummary(r: HerdRow): HerdSummary {
  return {
    p50TtfbMs: median(r.trials.map((t) => t.p50TtfbMs)),
    p50FirstBodyMs: median(r.trials.map((t) => t.p50FirstBodyMs)),
    p99TtlbMs: median(r.trials.map((t) => t.p99TtlbMs)),
    origin: r.trials.map((t) => t.originRequests),
    intact: r.trials.reduce((n, t) => n + t.intact, 0),
    clients: r.trials.reduce((n, t) => n + t.clients, 0),
  };
}

function herdTable(h: NonNullable<EdgeReport['herd']>): Table {
  const header = ['server', 'trials', 'origin requests', 'p50 first byte ms', 'p50 first body byte ms', 'p99 last byte ms', 'intact bodies', 'statuses', 'cache answers (all trials)', 'segd ÷ nginx', 'segd ÷ varnish'];
  /** segd's row over the same phase's row of `server`. */
  const rel = (segd: HerdRow, server: 'nginx' | 'varnish'): string => {
    const b = h.rows.find((r) => r.server === server && r.phase === segd.phase);
    if (segd.trials.length === 0 || !b || b.trials.length === 0) return '';
    const s = herdSummary(segd);
    const x = herdSummary(b);
    return `${ratio(s.p50TtfbMs, x.p50TtfbMs)} / ${ratio(s.p99TtlbMs, x.p99TtlbMs)}`;
  };
  const order = (r: HerdRow): number => (r.phase === 'cold' ? 1 : 0);
  const rows = [...h.baseline, ...[...h.rows].sort((a, b) => order(a) - order(b))].map((r) => {
    if (r.trials.length === 0) return [r.label, '-', '-', '-', '-', '-', '-', '-', `skipped: ${r.skipped ?? ''}`, '', ''];
    const s = herdSummary(r);
    return [
      r.label,
      String(r.trials.length),
      s.origin.join(', '),
      fmtMs(s.p50TtfbMs),
      fmtMs(s.p50FirstBodyMs),
      fmtMs(s.p99TtlbMs),
      `${s.intact}/${s.clients}`,
      counts(merge(r.trials.map((t) => t.statuses))),
      r.server === 'origin' ? '' : counts(merge(r.trials.map((t) => t.caches))),
      r.server === 'segd' ? rel(r, 'nginx') : '',
      r.server === 'segd' ? rel(r, 'varnish') : '',
    ];
  });
  return {
    title: 'herd: one uncached object, every client at the same instant',
    header,
    rows,
    numeric: new Set([1, 3, 4, 5]),
    footnotes: [
      'Times from the instant all requests are sent (connections opened beforehand); first byte = response headers; median over trials of each trial\'s percentile.',
      '"second herd": a new uncached object, same edge process, right after the first herd; "just started": the first requests the edge ever served (a fresh segd runs them before V8 has optimised its code).',
      'segd ÷: p50 first byte / p99 last byte, segd over that server (lower is better).',
      '"origin direct (1 client)" is the origin\'s own first byte, the reference of the goal; "(N clients)" is the origin serving the whole herd itself, a floor set by the clients and the machine.',
      'One client process reads every stream, on bare sockets (the requests are written in one loop, in about 3 ms; first byte = the first read of a socket). It shares its core with the origin, and a first byte waits while it reads what other sockets already hold, so first-byte times include some of its own work. The cache answers are the server-side record: a segd "hit" was looked up only after the fill had completed.',
    ],
  };
}

function hitsTable(rows: HitsRow[]): Table {
  const header = ['server', 'GB/s', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'non-2xx*', 'origin req. during', 'segd hits by tier', 'srv CPU', 'srv CPU s/GB', 'gen CPU', 'RSS MiB', 'segd ÷ nginx', 'segd ÷ varnish', 'segd ÷ bare'];
  return {
    title: 'hits: a filled set, wrk rotating over it',
    header,
    rows: rows.map((r) =>
      rowOf(r, header.length, (x) => [
        gb(x.bytesPerSec),
        fmt(x.reqPerSec ?? NaN),
        fmtMs(x.p50Ms ?? NaN),
        fmtMs(x.p99Ms ?? NaN),
        String(x.errors),
        String(x.non2xx),
        String(x.originRequestsDuring),
        x.tierHits ? counts(x.tierHits) : '',
        fmt(x.serverCpu ?? NaN, 2),
        cpuPerGb(x.serverCpu, x.bytesPerSec),
        fmt(x.generatorCpu ?? NaN, 2),
        fmt((x.peakRssBytes ?? NaN) / 2 ** 20),
        ...ratioCells(x, rows, (y) => y.bytesPerSec, ['nginx', 'varnish', 'bare']),
      ]),
    ),
    numeric: new Set([1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15]),
    footnotes: [
      'GB/s: bytes wrk read (bodies and headers) per second, 1 GB = 1e9 bytes. non-2xx*: wrk counts statuses >= 400 only; every body of the fill and of a second pass was checked byte for byte before the run.',
      'segd hits by tier: segd_cache_hits_total during warm-up and measurement; the disk-tier run has a memory tier smaller than the set, so most of its hits read the disk files (the read tier).',
      'bare node:http: the same objects held as Buffers by a Node process with no HTTP semantics (bench/edge/bare-edge.ts): the ceiling of an edge written on node:http, so "segd ÷ bare" is what segd keeps of it.',
      'CPU in cores: the edge (pinned to CPU 0), wrk (CPU 1). srv CPU s/GB: the edge\'s CPU seconds per GB delivered (lower is better), comparable even when other work on the machine takes CPU from the edge.',
    ],
  };
}

function fillTable(rows: FillRow[]): Table {
  const header = ['server', 'GB/s (bodies)', 'objects delivered', 'origin requests', 'max per object', 'errors', 'non-2xx*', 'srv CPU', 'srv CPU s/GB', 'gen CPU', 'origin CPU', 'cached after', 'sample re-read intact', 'segd ÷ nginx', 'segd ÷ varnish'];
  return {
    title: 'fill: never-repeating objects from an origin without delay',
    header,
    rows: rows.map((r) =>
      rowOf(r, header.length, (x) => [
        gb(x.bodyBytesPerSec),
        String(x.requests),
        String(x.originRequests),
        String(x.originMaxPerObject),
        String(x.errors),
        String(x.non2xx),
        fmt(x.serverCpu ?? NaN, 2),
        cpuPerGb(x.serverCpu, x.bodyBytesPerSec),
        fmt(x.generatorCpu ?? NaN, 2),
        fmt(x.originCpu ?? NaN, 2),
        String(x.cachedAfter),
        x.sample ? `${x.sample.intact}/${x.sample.requests}` : '-',
        ...ratioCells(x, rows, (y) => y.bodyBytesPerSec),
      ]),
    ),
    numeric: new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14]),
    footnotes: [
      'GB/s (bodies): objects delivered × object size per second. Origin requests may exceed objects delivered by up to the connection count: requests in flight when wrk stops.',
      'wrk and the origin share CPU 1: when gen CPU + origin CPU nears 1, the client side is the limit, not the edge.',
      'cached after: objects in the edge\'s cache at the end, warm-up objects included (Varnish\'s 1G malloc storage holds about a thousand 1 MiB objects). sample re-read: the first objects of the run asked for again and compared byte for byte (from the cache by now, unless evicted).',
    ],
  };
}

const share = (s: Sweep[]): { ok: number; all: number } => ({ ok: s.reduce((n, x) => n + x.intact, 0), all: s.reduce((n, x) => n + x.requests, 0) });
const pct = (x: { ok: number; all: number }): string => (x.all === 0 ? '-' : `${((100 * x.ok) / x.all).toFixed(x.ok === x.all ? 0 : 2)}% (${x.ok}/${x.all})`);

function outageTable(rows: OutageRow[]): Table {
  const header = ['server', 'fresh set: 200 + intact', 'stale set: 200 + intact', 'statuses', 'errors', 'cache answers', 'uncached, origin just down', 'uncached, at the end', 'segd ÷ nginx', 'segd ÷ varnish'];
  const shareOf = (r: OutageRow): number => {
    if (!r.sets) return NaN;
    const s = share([r.sets.fresh.firstPass, r.sets.fresh.loop, r.sets.stale.firstPass, r.sets.stale.loop]);
    return s.all ? s.ok / s.all : NaN;
  };
  const un = (u: OutageRow['uncached'], i: number): string => {
    const a = u?.[i];
    if (!a) return '-';
    return `${a.status || a.error} in ${fmtMs(a.ms)} ms${a.cache ? ` (${a.cache.replace(/^segd; /, '')})` : ''}`;
  };
  return {
    title: 'outage: the origin stopped, cached objects asked for again and again',
    header,
    rows: rows.map((r) =>
      rowOf(r, header.length, (x) => {
        if (!x.sets) return Array<string>(header.length - 1).fill('-');
        const all = [x.sets.fresh.firstPass, x.sets.fresh.loop, x.sets.stale.firstPass, x.sets.stale.loop];
        return [
          pct(share([x.sets.fresh.firstPass, x.sets.fresh.loop])),
          pct(share([x.sets.stale.firstPass, x.sets.stale.loop])),
          counts(merge(all.map((a) => a.statuses))),
          counts(merge(all.map((a) => a.errors))) || '0',
          counts(merge(all.map((a) => a.caches)), 3),
          un(x.uncached, 0),
          un(x.uncached, 1),
          ...ratioCells(x, rows, shareOf),
        ];
      }),
    ),
    numeric: new Set([8, 9]),
    footnotes: [
      `Fresh set: max-age one year. Stale set: max-age=1, expired before the origin stopped (served on segd's --stale-if-error, nginx's proxy_cache_use_stale error, Varnish's grace). Every object once, then round and round for the outage seconds.`,
      'segd ÷: share answered 200 with intact bytes, segd over that server.',
    ],
  };
}

// ---- goals -----------------------------------------------------------------------------------

export function evaluateGoals(r: EdgeReport): Goal[] {
  const goals: Goal[] = [];
  if (r.herd) {
    const segd = r.herd.rows.find((x) => x.server === 'segd' && x.phase === 'warm');
    const cold = r.herd.rows.find((x) => x.server === 'segd' && x.phase === 'cold');
    const ref = r.herd.baseline.find((x) => x.id === 'origin-1');
    if (!segd || segd.trials.length === 0 || !ref) goals.push({ scenario: 'herd', goal: '1 origin request, p50 first byte within 10 ms of the origin\'s', met: null, detail: 'segd not measured' });
    else {
      const s = herdSummary(segd);
      const o = herdSummary(ref).p50TtfbMs;
      const one = [segd, cold].every((x) => !x || herdSummary(x).origin.every((n) => n === 1));
      const close = s.p50TtfbMs - o <= 10;
      const intact = [segd, cold].every((x) => !x || herdSummary(x).intact === herdSummary(x).clients);
      goals.push({
        scenario: 'herd',
        goal: '1 origin request, p50 first byte within 10 ms of the origin\'s own, every body intact',
        met: one && close && intact,
        detail:
          `second herd: origin requests per trial ${s.origin.join(', ')}; p50 first byte ${fmtMs(s.p50TtfbMs)} ms vs origin ${fmtMs(o)} ms (+${fmtMs(s.p50TtfbMs - o)} ms); intact ${s.intact}/${s.clients}` +
          (cold && cold.trials.length ? `; just started: origin requests ${herdSummary(cold).origin.join(', ')}, p50 first byte ${fmtMs(herdSummary(cold).p50TtfbMs)} ms` : ''),
      });
    }
  }
  if (r.hits) {
    const n = baselineOf(r.hits, 'nginx');
    const v = baselineOf(r.hits, 'varnish');
    for (const s of r.hits.filter((x) => x.server === 'segd')) {
      if (!measured(s) || !n || !v) {
        goals.push({ scenario: 'hits', goal: `${s.label}: >= 1.5× nginx and >= Varnish`, met: null, detail: 'not every server measured' });
        continue;
      }
      const rn = (s.bytesPerSec ?? 0) / (n.bytesPerSec ?? 1);
      const rv = (s.bytesPerSec ?? 0) / (v.bytesPerSec ?? 1);
      goals.push({ scenario: 'hits', goal: `${s.label}: >= 1.5× nginx and >= Varnish`, met: rn >= 1.5 && rv >= 1, detail: `${rn.toFixed(2)}× nginx, ${rv.toFixed(2)}× Varnish` });
    }
  }
  if (r.fill) {
    const s = r.fill.find((x) => x.server === 'segd');
    const n = baselineOf(r.fill, 'nginx');
    if (!measured(s) || !n) goals.push({ scenario: 'fill', goal: '>= 1.0× nginx, one origin request per object', met: null, detail: 'not measured' });
    else {
      const rn = (s.bodyBytesPerSec ?? 0) / (n.bodyBytesPerSec ?? 1);
      const once = (s.originMaxPerObject ?? 0) <= 1 && (s.originRequests ?? 0) >= (s.requests ?? 0);
      goals.push({ scenario: 'fill', goal: '>= 1.0× nginx, one origin request per object', met: rn >= 1 && once, detail: `${rn.toFixed(2)}× nginx; ${s.originRequests} origin requests for ${s.requests} objects delivered, at most ${s.originMaxPerObject} per object` });
    }
  }
  if (r.outage) {
    const s = r.outage.find((x) => x.server === 'segd');
    if (!measured(s) || !s.sets) goals.push({ scenario: 'outage', goal: '100% of cached objects answered 200 with intact bytes', met: null, detail: 'not measured' });
    else {
      const x = share([s.sets.fresh.firstPass, s.sets.fresh.loop, s.sets.stale.firstPass, s.sets.stale.loop]);
      goals.push({ scenario: 'outage', goal: '100% of cached objects answered 200 with intact bytes', met: x.ok === x.all && x.all > 0, detail: pct(x) });
    }
  }
  return goals;
}

// ---- renderings ------------------------------------------------------------------------------

function tables(r: EdgeReport): Table[] {
  const out: Table[] = [];
  for (const s of r.scenarios) {
    if (s === 'herd' && r.herd) out.push(herdTable(r.herd));
    if (s === 'hits' && r.hits) out.push(hitsTable(r.hits));
    if (s === 'fill' && r.fill) out.push(fillTable(r.fill));
    if (s === 'outage' && r.outage) out.push(outageTable(r.outage));
  }
  return out;
}

function rowNotes(r: EdgeReport): string[] {
  const rows: [EdgeScenario, RowBase[]][] = [['herd', r.herd?.rows ?? []], ['hits', r.hits ?? []], ['fill', r.fill ?? []], ['outage', r.outage ?? []]];
  return rows.flatMap(([scenario, xs]) => xs.flatMap((x) => x.notes.map((n) => `${scenario}, ${x.label}: ${n}`)));
}

const goalLine = (g: Goal): string => `${g.met === null ? 'not measured' : g.met ? 'MET' : 'NOT MET'}: ${g.scenario}: ${g.goal} (${g.detail})`;

function header(r: EdgeReport): string {
  const o = r.options;
  return (
    `${r.quick ? 'Quick run' : 'Run'} ${r.startedAt}: edges pinned to CPU 0, origin, wrk and the bench's clients to CPU 1${r.pinned ? '' : ' (pinning was off)'}; ` +
    `${r.machine.cpus} CPUs, node ${r.machine.node}, load average ${r.machine.loadavgStart.map((l) => l.toFixed(2)).join(' ')} at start, ${r.machine.loadavgEnd.map((l) => l.toFixed(2)).join(' ')} at the end. ` +
    `Origin: first byte after ${String((o.origin as { delayMs: number }).delayMs)} ms, body paced over ${String((o.origin as { paceMs: number }).paceMs)} ms (herd, hits and outage; none in the fill).`
  );
}

export function formatEdgeReport(r: EdgeReport): string {
  const parts = [header(r), ''];
  for (const t of tables(r)) {
    parts.push(t.title, alignedTable(t.header, t.rows, t.numeric), ...t.footnotes.map((f) => `  ${f}`), '');
  }
  parts.push('goals:', ...r.goals.map((g) => `  ${goalLine(g)}`));
  const notes = [...rowNotes(r), ...r.notes];
  if (notes.length) parts.push('', 'notes:', ...notes.map((n) => `  ${n}`));
  return `${parts.join('\n')}\n`;
}

export function edgeMarkdown(r: EdgeReport, chartFile: string): string {
  const parts = [`# segd edge benchmark ${r.startedAt}`, '', `\`${r.command}\``, '', header(r), ''];
  for (const t of tables(r)) parts.push(`## ${t.title}`, '', ...markdownTable(t.header, t.rows, t.numeric), '', ...t.footnotes.map((f) => `- ${f}`), '');
  parts.push('## goals', '', ...r.goals.map((g) => `- ${goalLine(g)}`), '');
  const notes = [...rowNotes(r), ...r.notes];
  if (notes.length) parts.push('## notes', '', ...notes.map((n) => `- ${n.replace(/\n/g, ' ')}`), '');
  parts.push(`![chart](${chartFile})`, '');
  const configs = new Map<string, string>();
  for (const x of [...(r.herd?.rows ?? []), ...(r.hits ?? []), ...(r.fill ?? []), ...(r.outage ?? [])]) if (x.config && !configs.has(x.id)) configs.set(x.id, x.config);
  if (configs.size) {
    parts.push('## configurations (as run; ports and temp paths differ per run)', '');
    for (const [id, c] of configs) parts.push(`### ${id}`, '', '```', c.trimEnd(), '```', '');
  }
  return parts.join('\n');
}

const SERIES = [
  { name: 'segd', color: '#d62728' },
  { name: 'segd (disk tier)', color: '#ff9896' },
  { name: 'nginx', color: '#2ca02c' },
  { name: 'varnish', color: '#1f77b4' },
];
const seriesOf = (x: RowBase): string => (x.id === 'segd-disk' ? 'segd (disk tier)' : x.server);

export function edgeSvg(r: EdgeReport): string {
  const groups: ChartGroup[] = [];
  const bars = <R extends RowBase>(rows: R[] | undefined, value: (x: R) => number | undefined, what: string): ChartGroup['bars'] =>
    (rows ?? []).filter(measured).map((x) => ({ series: seriesOf(x), value: value(x) ?? NaN, title: `${x.label}: ${what}` }));
  if (r.herd) {
    const rows = r.herd.rows.filter((x) => x.trials.length > 0 && x.phase === 'warm');
    groups.push({ label: 'herd first byte (2nd herd)', unit: 'p50 ms (lower: better)', bars: rows.map((x) => ({ series: seriesOf(x), value: herdSummary(x).p50TtfbMs, title: `${x.label}: p50 first byte` })) });
    groups.push({ label: 'herd last byte (2nd herd)', unit: 'p99 ms (lower: better)', bars: rows.map((x) => ({ series: seriesOf(x), value: herdSummary(x).p99TtlbMs, title: `${x.label}: p99 last byte` })) });
  }
  if (r.hits) groups.push({ label: 'hits', unit: 'GB/s', bars: bars(r.hits, (x) => (x.bytesPerSec ?? NaN) / 1e9, 'GB/s') });
  if (r.fill) groups.push({ label: 'fill', unit: 'GB/s', bars: bars(r.fill, (x) => (x.bodyBytesPerSec ?? NaN) / 1e9, 'GB/s') });
  return barChartSvg({
    title: `segd edge benchmark ${r.startedAt}${r.quick ? ' (quick)' : ''}`,
    notes: ['bar height: share of the largest figure of its group; label: the figure'],
    series: SERIES,
    groups,
  });
}
