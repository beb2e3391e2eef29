// Results: the report's shape, generator-bound flags, segd-to-baseline ratios, and the
// console table, markdown and JSON renderings.
import type { LoadFigures } from './generators/types.js';
import { DISK_MEMORY_SHARE, type ScenarioName, type ServerName } from './options.js';

export interface ScenarioResult extends LoadFigures {
  server: ServerName;
  scenario: ScenarioName;
  generator: 'wrk' | 'autocannon';
  /** Null when the scenario was not measured (preflight failed, server crashed...). */
  skipped: string | null;
  preflight: string;
  unexpectedStatus: number;
  statusCounts: Record<string, number> | null;
  /** Share of the measurement segd's main thread spent in V8's garbage collector (NaN for other servers). */
  gcShare: number;
  /** segd's event-loop delay over the measurement, p99 and max (prom-client's, from its /metrics); NaN for other servers. */
  loopP99Ms: number;
  loopMaxMs: number;
  /** The disk scenario's memory cgroup: its limit and the most it held (NaN when not confined, or unknown). */
  memoryLimitBytes: number;
  memoryPeakBytes: number;
  /** Peak resident memory of the server's processes during the scenario. */
  peakRssBytes: number;
  /** The generator was saturated and no server got noticeably more: the figure is a floor. */
  generatorBound: boolean;
}

export interface ServerStatus {
  name: ServerName;
  available: boolean;
  reason: string | null;
  notes: string[];
  port: number | null;
  pid: number | null;
}

export interface Ratio {
  scenario: ScenarioName;
  baseline: ServerName;
  /** segd ÷ baseline. */
  reqPerSec: number;
  bytesPerSec: number;
  p99: number;
  /** Both figures sit at the load generator's limit: the ratio says little. */
  generatorBound: boolean;
}

export interface BenchReport {
  startedAt: string;
  finishedAt: string;
  quick: boolean;
  durationSec: number;
  warmupSec: number;
  connections: number;
  pinned: boolean;
  content: { dir: string; totalBytes: number; coldBytes: number; segdCacheSize: string };
  machine: { cpus: number; loadavg: number[]; node: string };
  tools: { wrk: boolean; nginx: boolean; taskset: boolean };
  servers: ServerStatus[];
  scenarios: ScenarioName[];
  results: ScenarioResult[];
  ratios: Ratio[];
  notes: string[];
}

/** Generator saturation threshold, in cores of the one CPU the generator is pinned to. */
export const SATURATED = 0.85;
/** Figures within this factor of the best of their scenario count as "at the same level". */
export const SAME_LEVEL = 1.1;

const measured = (r: ScenarioResult): boolean => r.skipped === null && r.requests > 0;

/** Marks figures that sit at the load generator's limit, then computes segd's ratios. */
export function finishReport(report: BenchReport): void {
  for (const scenario of report.scenarios) {
    const rows = report.results.filter((r) => r.scenario === scenario && measured(r));
    const best = Math.max(0, ...rows.map((r) => r.reqPerSec));
    for (const r of rows) {
      r.generatorBound = r.generatorCpu >= SATURATED && best <= r.reqPerSec * SAME_LEVEL;
    }
    const segd = rows.find((r) => r.server === 'segd');
    if (!segd) continue;
    for (const b of rows) {
      if (b.server === 'segd' || b.reqPerSec <= 0) continue;
      report.ratios.push({
        scenario,
        baseline: b.server,
        reqPerSec: segd.reqPerSec / b.reqPerSec,
        bytesPerSec: b.bytesPerSec > 0 ? segd.bytesPerSec / b.bytesPerSec : NaN,
        p99: b.p99Ms > 0 ? segd.p99Ms / b.p99Ms : NaN,
        generatorBound: segd.generatorBound && b.generatorBound,
      });
    }
  }
}

export const fmt = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toFixed(digits) : '-');
export const fmtMs = (n: number): string => (!Number.isFinite(n) ? '-' : n < 10 ? n.toFixed(2) : n.toFixed(1));

export const COLUMNS = [
  'scenario',
  'server',
  'gen',
  'req/s',
  'MB/s',
  'p50 ms',
  'p99 ms',
  'errors',
  'non-2xx*',
  'RSS MiB',
  'srv CPU',
  'CPU s/GB',
  'GC %',
  'loop p99/max ms',
  'gen CPU',
  'segd ÷',
  'flags',
] as const;

/** One row per server and scenario; "segd ÷" is segd's req/s over that server's. */
export function tableRows(report: BenchReport): string[][] {
  const rows: string[][] = [];
  for (const scenario of report.scenarios) {
    for (const r of report.results.filter((x) => x.scenario === scenario)) {
      const ratio = report.ratios.find((x) => x.scenario === scenario && x.baseline === r.server);
      const flags: string[] = [];
      if (r.skipped) flags.push(`skipped: ${r.skipped}`);
      if (r.generatorBound) flags.push('generator-bound');
      if (Number.isFinite(r.memoryLimitBytes)) flags.push(`memory ${fmt(r.memoryLimitBytes / 2 ** 20)} MiB, peak ${fmt(r.memoryPeakBytes / 2 ** 20)}`);
      rows.push([
        scenario,
        r.server,
        r.generator,
        r.skipped ? '-' : fmt(r.reqPerSec),
        r.skipped ? '-' : fmt(r.bytesPerSec / 1e6, 1),
        r.skipped ? '-' : fmtMs(r.p50Ms),
        r.skipped ? '-' : fmtMs(r.p99Ms),
        r.skipped ? '-' : String(r.errors),
        r.skipped ? '-' : String(r.unexpectedStatus),
        r.peakRssBytes > 0 ? fmt(r.peakRssBytes / 2 ** 20) : '-',
        r.skipped ? '-' : fmt(r.serverCpu, 2),
        r.skipped || r.bytesPerSec < 1e8 ? '-' : fmt(r.serverCpu / (r.bytesPerSec / 1e9), 2),
        r.skipped ? '-' : fmt(r.gcShare * 100, 1),
        r.skipped || !Number.isFinite(r.loopP99Ms) ? '-' : `${fmtMs(r.loopP99Ms)}/${fmtMs(r.loopMaxMs)}`,
        r.skipped ? '-' : fmt(r.generatorCpu, 2),
        ratio ? `${fmt(ratio.reqPerSec, 2)}${ratio.generatorBound ? '~' : ''}` : '',
        flags.join(', '),
      ]);
    }
  }
  return rows;
}

function footnotes(report: BenchReport): string[] {
  const out = [
    `non-2xx*: responses other than the scenario's expected status (206 for ranges, 304 for revalidate); wrk can only count statuses >= 400.`,
    `segd ÷: segd's req/s divided by that server's; "~": both at the load generator's limit.`,
    `generator-bound: the load generator used >= ${SATURATED} of its CPU and no server did more than ${Math.round((SAME_LEVEL - 1) * 100)}% better, so the figure is a floor.`,
    `CPU s/GB: the server's CPU seconds per GB it sent (scenarios that move bytes). GC %: segd's share of wall time in V8's garbage collector (nodejs_gc_duration_seconds from its /metrics). loop p99/max: segd's event-loop delay (nodejs_eventloop_lag_*, less the 10 ms period of the timer that samples it, which those figures include).`,
    `disk: the server's processes in a memory cgroup limited to ${DISK_MEMORY_SHARE * 100}% of the disk library (page cache included), the page cache dropped first, so reads go to the device; "memory" says the limit and the group's peak.`,
    `CPU in cores; servers pinned to CPU 0, generators to CPU 1${report.pinned ? '' : ' (pinning was off)'}; load average at start ${report.machine.loadavg.map((l) => l.toFixed(2)).join(' ')}.`,
  ];
  const unavailable = report.servers.filter((s) => !s.available);
  for (const s of unavailable) out.push(`${s.name} unavailable: ${s.reason}`);
  for (const s of report.servers) for (const n of s.notes) out.push(`${s.name}: ${n}`);
  return out.concat(report.notes);
}

/**
 * A plain-text table: columns padded to their widest cell, `numeric` columns right-aligned, a
 * blank line wherever `groupBy`'s column changes value.
 */
export function alignedTable(header: readonly string[], rows: readonly (readonly string[])[], numeric: ReadonlySet<number>, groupBy?: number): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]): string =>
    r.map((c, i) => (numeric.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  ')];
  let prev: string | undefined;
  for (const r of rows) {
    if (groupBy !== undefined && prev !== undefined && r[groupBy] !== prev) out.push('');
    prev = r[groupBy ?? 0];
    out.push(line(r));
  }
  return out.join('\n');
}

/** A GitHub-flavoured markdown table; `numeric` columns right-aligned. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[], numeric: ReadonlySet<number>): string[] {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `| ${header.map((_, i) => (numeric.has(i) ? '---:' : '---')).join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ];
}

const NUMERIC_COLUMNS = new Set([3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);

export function formatTable(report: BenchReport): string {
  const table = alignedTable(COLUMNS, tableRows(report), NUMERIC_COLUMNS, 0);
  return `${table}\n\n${footnotes(report).map((f) => `  ${f}`).join('\n')}\n`;
}

export function toMarkdown(report: BenchReport, chartFile = 'chart.svg'): string {
  return [
    `# segd benchmark ${report.startedAt}`,
    '',
    `${report.quick ? 'Quick run' : 'Run'}: ${report.durationSec} s per scenario after ${report.warmupSec} s warm-up, ${report.connections} connections, ` +
      `content ${(report.content.totalBytes / 2 ** 20).toFixed(0)} MiB (cold set ${(report.content.coldBytes / 2 ** 20).toFixed(0)} MiB, segd --cache-size ${report.content.segdCacheSize}), ` +
      `${report.machine.cpus} CPUs, node ${report.machine.node}.`,
    '',
    ...markdownTable(COLUMNS, tableRows(report), NUMERIC_COLUMNS),
    '',
    ...footnotes(report).map((f) => `- ${f}`),
    '',
    `![chart](${chartFile})`,
    '',
  ].join('\n');
}
