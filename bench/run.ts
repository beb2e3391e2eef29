// Entry point: `npm run bench -- [--quick] [--servers ...] [--scenarios ...]`, and runBench()
// for driving the harness in-process (test/bench.test.ts).
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { cgroupUnavailable, dropPageCache, MemoryCgroup } from './cgroup.js';
import { toSvg } from './chart.js';
import { ensureContent, type Content } from './content.js';
import { autocannonGenerator } from './generators/autocannon.js';
import { loadFigures, NO_FIGURES, type LoadGenerator } from './generators/types.js';
import { setWrkCpu, wrkAvailable, wrkGenerator } from './generators/wrk.js';
import { defaultOptions, parseArgs, runAsMain, USAGE, type BenchOptions, type ScenarioName, type ServerName } from './options.js';
import { groupPids, installCleanupHandlers, killAllSync, pinSelf, watched } from './procs.js';
import { finishReport, formatTable, toMarkdown, type BenchReport, type ScenarioResult, type ServerStatus } from './report.js';
import { SCENARIOS, type Preflight, type Scenario } from './scenarios.js';
import { GENERATOR_CPU, serverUnavailable, startServer, withServer, type RunningServer } from './servers.js';
import { ensureTools } from './setup.js';
import { loopDelayMs } from '../src/observe/metrics.js';

export type { BenchOptions, BenchReport, ScenarioResult };
export { defaultOptions };

export interface RunBenchResult {
  report: BenchReport;
  /** Files written (json, md, svg), empty when outDir is null. */
  files: string[];
}

function dropCaches(log: (l: string) => void): string {
  try {
    dropPageCache();
    return 'page cache dropped';
  } catch (e) {
    log(`cannot drop the page cache: ${(e as Error).message}`);
    return `page cache not dropped (${(e as NodeJS.ErrnoException).code ?? 'error'})`;
  }
}

function skippedResult(server: ServerName, scenario: ScenarioName, generator: 'wrk' | 'autocannon', why: string, preflight = ''): ScenarioResult {
  return {
    server,
    scenario,
    generator,
    skipped: why,
    preflight,
    ...NO_FIGURES,
    unexpectedStatus: 0,
    statusCounts: null,
    gcShare: NaN,
    loopP99Ms: NaN,
    loopMaxMs: NaN,
    memoryLimitBytes: NaN,
    memoryPeakBytes: NaN,
    peakRssBytes: 0,
    generatorBound: false,
  };
}

async function measure(
  server: RunningServer,
  scenario: Scenario,
  content: Content,
  opts: BenchOptions,
  useWrk: boolean,
): Promise<ScenarioResult> {
  // wrk's parser waits for a body after a HEAD response, so HEAD always stays on autocannon.
  const wantsWrk = scenario.generator === 'wrk' || (opts.wrkRates && scenario.name !== 'head');
  const generatorName = useWrk && wantsWrk ? 'wrk' : 'autocannon';
  const pre = await scenario.preflight(server.baseUrl, content);
  if (!pre.ok) return skippedResult(server.name, scenario.name, generatorName, 'preflight failed', pre.detail);
  if (scenario.cold && opts.dropCaches) opts.log(`  ${dropCaches(opts.log)}`);
  let cgroup: MemoryCgroup | undefined;
  if (scenario.memoryLimit) {
    const why = cgroupUnavailable();
    if (why) return skippedResult(server.name, scenario.name, generatorName, why, pre.detail);
    cgroup = MemoryCgroup.create(`segd-bench-${server.name}`, scenario.memoryLimit(content));
  }
  try {
    if (cgroup) {
      // In first, then drop: whatever the server reads from now on is charged to its group.
      cgroup.enter(groupPids(server.pid));
      dropPageCache();
    }
    return { ...(await load(server, scenario, content, opts, generatorName, pre)), memoryLimitBytes: cgroup?.limitBytes ?? NaN, memoryPeakBytes: cgroup?.peakBytes() ?? NaN };
  } finally {
    cgroup?.remove();
  }
}

/** The warm-up and the measured run of one scenario against one server. */
async function load(server: RunningServer, scenario: Scenario, content: Content, opts: BenchOptions, generatorName: 'wrk' | 'autocannon', pre: Preflight): Promise<ScenarioResult> {
  const generator: LoadGenerator = generatorName === 'wrk' ? wrkGenerator : autocannonGenerator;
  const run = {
    baseUrl: server.baseUrl,
    plan: scenario.plan(content, pre),
    connections: opts.connections,
    expectStatus: scenario.expectStatus,
  };
  if (opts.warmupSec > 0) await generator.run({ ...run, durationSec: opts.warmupSec });
  // Reading segd's metrics also resets its event-loop delay histogram: the next read covers the run.
  const before = server.name === 'segd' ? await segdMetrics(server.baseUrl) : undefined;
  const w = await watched(groupPids(server.pid), () => generator.run({ ...run, durationSec: opts.durationSec }));
  const r = w.result;
  const figures = loadFigures(r, opts.durationSec, w.cpuSeconds);
  const after = before ? await segdMetrics(server.baseUrl) : undefined;
  return {
    server: server.name,
    scenario: scenario.name,
    generator: generatorName,
    skipped: server.proc.hasExited() ? 'server exited during the run' : null,
    preflight: pre.detail,
    ...figures,
    unexpectedStatus: r.unexpectedStatus,
    statusCounts: r.statusCounts,
    gcShare: before && after ? (after.gcSeconds - before.gcSeconds) / figures.seconds : NaN,
    loopP99Ms: after ? after.loopP99Ms : NaN,
    loopMaxMs: after ? after.loopMaxMs : NaN,
    memoryLimitBytes: NaN,
    memoryPeakBytes: NaN,
    peakRssBytes: w.peakRssBytes,
    generatorBound: false,
  };
}

interface SegdFigures {
  /** Seconds the main thread has spent in GC so far (prom-client's default GC histogram). */
  gcSeconds: number;
  /** Event-loop delay since the previous read of /metrics. */
  loopP99Ms: number;
  loopMaxMs: number;
}

/** What the bench reads from segd's /metrics; NaN where unreadable. */
async function segdMetrics(baseUrl: string): Promise<SegdFigures> {
  const out: SegdFigures = { gcSeconds: NaN, loopP99Ms: NaN, loopMaxMs: NaN };
  try {
    const text = await (await fetch(new URL('/metrics', baseUrl))).text();
    let gc = 0;
    for (const line of text.split('\n')) {
      const [name, value] = [line.slice(0, line.lastIndexOf(' ')), Number(line.slice(line.lastIndexOf(' ') + 1))];
      if (name.startsWith('nodejs_gc_duration_seconds_sum')) gc += value;
      else if (name === 'nodejs_eventloop_lag_p99_seconds') out.loopP99Ms = loopDelayMs(value);
      else if (name === 'nodejs_eventloop_lag_max_seconds') out.loopMaxMs = loopDelayMs(value);
    }
    out.gcSeconds = gc;
  } catch {
    // left NaN: the row shows '-'
  }
  return out;
}

function resultLine(r: ScenarioResult): string {
  if (r.skipped) return `  ${r.scenario.padEnd(10)} skipped: ${r.skipped}${r.preflight ? ` (${r.preflight})` : ''}`;
  return (
    `  ${r.scenario.padEnd(10)} ${r.reqPerSec.toFixed(0).padStart(7)} req/s ${(r.bytesPerSec / 1e6).toFixed(1).padStart(7)} MB/s` +
    `  p50 ${r.p50Ms.toFixed(2)} ms  p99 ${r.p99Ms.toFixed(2)} ms  errors ${r.errors}  non-2xx* ${r.unexpectedStatus}` +
    `  [${r.generator}, srv ${r.serverCpu.toFixed(2)} / gen ${r.generatorCpu.toFixed(2)} CPU${Number.isFinite(r.gcShare) ? `, GC ${(r.gcShare * 100).toFixed(1)}%` : ''}]`
  );
}

/** Runs the benchmark. Every server it starts is stopped before it returns or throws. */
export async function runBench(overrides: Partial<BenchOptions> = {}): Promise<RunBenchResult> {
  const opts = defaultOptions(overrides);
  const log = opts.log;
  const startedAt = new Date();
  const uninstall = installCleanupHandlers(() => {
    autocannonGenerator.abort();
    wrkGenerator.abort();
  });
  try {
    const needsWrk = opts.useWrk && opts.scenarios.some((s) => SCENARIOS[s].generator === 'wrk');
    const tools = ensureTools({ install: opts.install, needNginx: opts.servers.some((n) => n.startsWith('nginx')), needWrk: needsWrk, log });
    const useWrk = opts.useWrk && wrkAvailable();
    if (needsWrk && !useWrk) log('wrk not available: byte-throughput scenarios use autocannon (expect generator-bound figures)');
    // Servers on CPU 0, generators on CPU 1: needs taskset and two CPUs.
    const pinned = opts.pin && tools.taskset && os.cpus().length >= 2;
    if (opts.pin && !pinned) log('not pinning to CPUs (needs taskset and 2 CPUs)');
    opts.pin = pinned;
    setWrkCpu(pinned ? GENERATOR_CPU : null);
    if (pinned && opts.pinSelf && !pinSelf(GENERATOR_CPU)) log('could not pin this process to CPU 1');

    const content = await ensureContent(opts.dataDir, opts.content, log);
    const report: BenchReport = {
      startedAt: startedAt.toISOString(),
      finishedAt: '',
      quick: opts.quick,
      durationSec: opts.durationSec,
      warmupSec: opts.warmupSec,
      connections: opts.connections,
      pinned,
      content: { dir: content.dir, totalBytes: content.totalBytes, coldBytes: content.coldPaths.length * opts.content.coldSegmentBytes, segdCacheSize: opts.segdCacheSize },
      machine: { cpus: os.cpus().length, loadavg: os.loadavg(), node: process.version },
      tools: { ...tools, wrk: useWrk },
      servers: [],
      scenarios: opts.scenarios,
      results: [],
      ratios: [],
      notes: [],
    };
    const perRun = opts.warmupSec + opts.durationSec;
    log(`bench: ${opts.servers.length} servers × ${opts.scenarios.length} scenarios × ${perRun} s ≈ ${Math.ceil((opts.servers.length * opts.scenarios.length * perRun) / 60)} min of load, ${opts.connections} connections`);

    for (const name of opts.servers) {
      const status: ServerStatus = { name, available: false, reason: null, notes: [], port: null, pid: null };
      report.servers.push(status);
      const why = serverUnavailable(name, { opts, content });
      if (why) {
        status.reason = why;
        log(`${name}: unavailable: ${why}`);
        continue;
      }
      let server: RunningServer;
      try {
        server = await startServer(name, { opts, content });
      } catch (e) {
        status.reason = `failed to start: ${(e as Error).message}`;
        log(`${name}: ${status.reason}`);
        continue;
      }
      status.available = true;
      status.port = server.port;
      status.pid = server.pid;
      status.notes.push(...server.notes);
      log(`${name}: serving on ${server.baseUrl} (pid ${server.pid})${server.notes.length ? ` ${server.notes.join('; ')}` : ''}`);
      await withServer(server, status.notes, log, async () => {
        for (const scenarioName of opts.scenarios) {
          const scenario = SCENARIOS[scenarioName];
          if (server.proc.hasExited()) {
            report.results.push(skippedResult(name, scenarioName, scenario.generator, 'server exited'));
            continue;
          }
          let r: ScenarioResult;
          try {
            r = await measure(server, scenario, content, opts, useWrk);
          } catch (e) {
            r = skippedResult(name, scenarioName, scenario.generator === 'wrk' && useWrk ? 'wrk' : 'autocannon', `error: ${(e as Error).message.split('\n')[0]}`);
          }
          report.results.push(r);
          log(resultLine(r));
        }
      });
    }

    report.finishedAt = new Date().toISOString();
    finishReport(report);
    log('');
    log(formatTable(report));
    const files = opts.outDir ? await writeResults(report, opts.outDir) : [];
    if (files.length) log(`results: ${files.map((f) => path.relative(process.cwd(), f)).join(', ')}`);
    return { report, files };
  } finally {
    killAllSync();
    uninstall();
  }
}

async function writeResults(report: BenchReport, outDir: string): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const stamp = report.startedAt.replace(/[:.]/g, '-');
  const files: string[] = [];
  for (const name of [stamp, 'latest']) {
    const json = path.join(outDir, `${name}.json`);
    const md = path.join(outDir, `${name}.md`);
    const svg = path.join(outDir, `${name}.svg`);
    await writeFile(json, `${JSON.stringify(report, null, 2)}\n`);
    await writeFile(md, toMarkdown(report, `${name}.svg`));
    await writeFile(svg, toSvg(report));
    files.push(json, md, svg);
  }
  return files;
}

runAsMain(import.meta.url, parseArgs, USAGE, (opts) => runBench(opts));
