/**
 * Soak run: segd under a steady player-like mix plus hostile traffic for a long time, watched
 * for growth and for errors the traffic does not explain. Not a test and not a benchmark.
 *
 *   npx tsx bench/soak.ts [--duration 30m] [--sample 10s] [--warmup 5m] [--cache-size 64MiB]
 *                         [--library-size 256MiB] [--players 8] [--slow-read 120s]
 *                         [--out DIR] [--segd-cli FILE] [--no-pin]
 *
 * segd runs from its built CLI (`serve DIR --cache-size SIZE --no-player`) in its own process
 * group pinned to CPU 0; the traffic runs in this process, pinned to CPU 1. The content is
 * bench/content.ts's layout with a cold library of --library-size, so that with the defaults
 * 384 MiB are served through a 64 MiB cache and most segments are misses. The mix is MIX in
 * soak/traffic.ts: players (playlists with compression and revalidation, init sections,
 * consecutive segments, byte-range renditions, keep-alive), 404 floods, range storms
 * (single, suffix, open, multi-range, unsatisfiable), slow readers, stalled readers and
 * aborted downloads. Every 200/206 body is compared byte for byte with the file on disk.
 *
 * Every --sample seconds it records, from outside segd, RSS and anonymous RSS
 * (/proc/PID/status), open descriptors (sockets apart) and mappings (/proc/PID/maps), CPU;
 * and from segd's GET /metrics the V8 heap used, external memory and the event-loop delay
 * p99 over the interval. Results go to --out (default bench/results/soak-<time>/):
 * samples.json (rewritten after every sample, so an interrupted run keeps its data),
 * summary.md and chart.svg.
 *
 * The run fails (exit 1) when
 *   - any judged metric is rising after the warm-up: the least-squares line through the
 *     samples after the warm-up rises by more than the metric's tolerance, and the mean of
 *     the last third is above the mean of the middle third by more than a third of it
 *     (soak/trend.ts; tolerances in METRICS of soak/sample.ts: 10% or 8 MiB anonymous RSS,
 *     10% or 64 MiB (one mapping of the largest file) RSS and external memory, 10% or 4 MiB
 *     heap, 10% or 4 descriptors, 25% or 32 sockets, 10% or 32 mappings, 50% or 5 ms
 *     event-loop p99); with fewer than six samples after the warm-up trends are not judged;
 *   - any error is unexplained: a status other than the one the request asks for, a reset
 *     or timeout on a request we did not cut ourselves, a body that differs from the file, a
 *     progressing slow reader cut, a stalled reader not cut within MIX.stallHoldSec, a
 *     failed /metrics scrape, a 5xx in segd's own segd_requests_total, a line segd writes to
 *     stderr, segd exiting, or segd not exiting within 5 s of SIGTERM at the end.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseSize } from '../src/config/size.js';
import { ensureContent } from './content.js';
import { BENCH_DIR, contentKey, defaultOptions, FULL_CONTENT } from './options.js';
import { installCleanupHandlers, killAllSync, pinSelf, which } from './procs.js';
import { alignedTable, markdownTable } from './report.js';
import { GENERATOR_CPU, SEGD_CLI, serverUnavailable, startServer, type RunningServer } from './servers.js';
import { soakSvg } from './soak/chart.js';
import { METRICS, Sampler, shown, type Sample } from './soak/sample.js';
import { MIX, startTraffic, Tally, type OutcomeRow } from './soak/traffic.js';
import { judge, MIN_SAMPLES, type Trend } from './soak/trend.js';

const USAGE = `usage: npx tsx bench/soak.ts [options]
  --duration TIME      how long the traffic runs (default 30m; 90s, 10m, 2h)
  --sample TIME        sampling interval (default 10s)
  --warmup TIME        samples before this are charted, not judged (default: a sixth of --duration, at most 5m)
  --cache-size SIZE    segd --cache-size (default 64MiB)
  --library-size SIZE  cold library, in 1 MiB segments (default 256MiB; 128 MiB of hot and range content come on top)
  --players N          concurrent players (default 8)
  --slow-read TIME     how long a slow reader reads before it hangs up (default 120s, past segd's 60 s stall bound)
  --out DIR            results (default bench/results/soak-<time>/)
  --segd-cli FILE      segd's CLI (default dist/src/cli/main.js; a .ts file runs via tsx)
  --no-pin             do not pin segd to CPU 0 and this process to CPU 1`;

interface SoakOptions {
  durationSec: number;
  sampleSec: number;
  warmupSec: number;
  cacheSize: string;
  librarySize: number;
  players: number;
  slowReadSec: number;
  outDir: string;
  segdCli: string;
  pin: boolean;
}

/** `90s`, `10m`, `2h`, or plain seconds. */
function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*$/i.exec(text);
  if (!m) throw new RangeError(`not a duration: '${text}' (try 90s, 30m or 2h)`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600 }[(m[2] ?? 's').toLowerCase() as 's' | 'm' | 'h'];
}

function parseOptions(argv: string[], startedAt: Date): SoakOptions | null {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string', default: '30m' },
      sample: { type: 'string', default: '10s' },
      warmup: { type: 'string' },
      'cache-size': { type: 'string', default: '64MiB' },
      'library-size': { type: 'string', default: '256MiB' },
      players: { type: 'string', default: '8' },
      'slow-read': { type: 'string', default: '120s' },
      out: { type: 'string' },
      'segd-cli': { type: 'string' },
      'no-pin': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (v.help) return null;
  const durationSec = parseDuration(v.duration);
  const sampleSec = parseDuration(v.sample);
  const warmupSec = v.warmup === undefined ? Math.min(300, durationSec / 6) : parseDuration(v.warmup);
  const players = Number(v.players);
  parseSize(v['cache-size']); // segd parses it too; fail here, before content is generated
  if (sampleSec < 1 || durationSec < sampleSec) throw new RangeError('--sample must be at least 1s and at most --duration');
  if (warmupSec >= durationSec) throw new RangeError('--warmup must be shorter than --duration');
  if (!Number.isInteger(players) || players < 1) throw new RangeError(`--players: not a whole number ≥ 1: '${v.players}'`);
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  return {
    durationSec,
    sampleSec,
    warmupSec,
    cacheSize: v['cache-size'],
    librarySize: parseSize(v['library-size']),
    players,
    slowReadSec: parseDuration(v['slow-read']),
    outDir: path.resolve(v.out ?? path.join(BENCH_DIR, 'results', `soak-${stamp}`)),
    segdCli: v['segd-cli'] === undefined ? SEGD_CLI : path.resolve(v['segd-cli']),
    pin: !v['no-pin'],
  };
}

const MiB = 1024 * 1024;

/**
 * Lines segd writes to stderr in a clean run: its JSON diagnostics below warning level (pino's
 * 30 is info: it is serving, it was asked to stop). A warning or an error is a complaint.
 */
const EXPECTED_STDERR = [/^\{"level":(10|20|30),/];

/**
 * Turns what segd says about itself into outcomes: new stderr lines, new 5xx in its request
 * counter (including answers to clients that had gone), and its exit.
 */
class SegdWatch {
  private complaints = 0;
  private exitedEarly = false;
  private serverErrors: Record<string, number> = {};

  constructor(private readonly server: RunningServer, private readonly tally: Tally) {}

  /** segd logged something or exited during the run. */
  get complained(): boolean {
    return this.complaints > 0 || this.exitedEarly;
  }

  check(sample?: Sample): void {
    const lines = this.server.proc.stderr().split('\n').filter((l) => l.trim() !== '' && !EXPECTED_STDERR.some((re) => re.test(l)));
    const fresh = lines.slice(this.complaints);
    if (fresh.length > 0) this.tally.bad('segd', 'logged to stderr', `${fresh.length} lines, the first: ${fresh[0]!.slice(0, 300)}`);
    this.complaints = Math.max(this.complaints, lines.length);
    for (const [status, n] of Object.entries(sample?.segdStatus ?? {})) {
      if (!status.startsWith('5')) continue;
      for (let i = this.serverErrors[status] ?? 0; i < n; i++) this.tally.bad('segd', `counted a ${status}`, 'segd_requests_total');
      this.serverErrors[status] = n;
    }
    if (this.server.proc.hasExited() && !this.exitedEarly) {
      this.exitedEarly = true;
      this.tally.bad('segd', 'exited', `${(this.server.proc.child.exitCode ?? this.server.proc.child.signalCode) ?? '?'} (its stderr is in the summary)`);
    }
  }
}

const fmt = (v: number, digits = 1): string => (Number.isFinite(v) ? v.toFixed(digits) : '-');

function progressLine(s: Sample): string {
  return (
    `${fmt(s.t, 0).padStart(6)} s  anon ${fmt(s.anon / MiB)} MiB  rss ${fmt(s.rss / MiB)}  heap ${fmt(s.heapUsed / MiB)}  ext ${fmt(s.external / MiB)}` +
    `  fds ${s.fds}  sockets ${s.sockets}  maps ${s.maps}  loop p99 ${fmt(s.loopP99)} ms  cpu ${fmt(s.cpu, 2)}` +
    `  ${fmt(s.reqPerSec, 0)} req/s  unexplained ${s.unexplained}`
  );
}

const TREND_HEAD = ['metric', 'unit', 'start', 'end', 'peak', 'rise', 'last−middle', 'tolerance', 'verdict'];
const TREND_NUMERIC: ReadonlySet<number> = new Set([2, 3, 4, 5, 6, 7]);
const OUTCOME_HEAD = ['traffic', 'outcome', 'count', 'explained'];
const OUTCOME_NUMERIC: ReadonlySet<number> = new Set([2]);

function trendRows(trends: readonly Trend[]): string[][] {
  return trends.map((t) => {
    const v = (x: number): string => fmt(shown(t.def, x), t.def.unit === 'MiB' || t.def.unit === 'ms' || t.def.unit === 'cores' ? 1 : 0);
    return [t.def.label, t.def.unit, v(t.start), v(t.end), v(t.peak), v(t.rise), v(t.step), v(t.tolerance), t.verdict];
  });
}

const outcomeRows = (rows: readonly OutcomeRow[]): string[][] => rows.map((r) => [r.cls, r.outcome, String(r.count), r.explained ? 'yes' : 'NO']);

interface SoakResult {
  startedAt: string;
  options: SoakOptions;
  content: { dir: string; totalBytes: number; libraryBytes: number };
  pinned: boolean;
  /** How segd stopped, and the end of what it wrote to stderr. */
  segd: { pid: number; stop: string; stderr: string };
  mix: typeof MIX;
  samples: Sample[];
  trends: Array<Omit<Trend, 'def'> & { metric: string }>;
  outcomes: OutcomeRow[];
  unexplained: string[];
  /** segd wrote something unexpected to stderr, or exited during the run. */
  segdComplained: boolean;
  failures: string[];
}

function toMarkdown(r: SoakResult, trends: readonly Trend[], command: string): string {
  const o = r.options;
  const judged = trends.filter((t) => t.verdict !== 'not judged').length;
  return [
    `# segd soak ${r.startedAt}`,
    '',
    `\`${command}\``,
    '',
    `${fmt(o.durationSec / 60)} min of traffic, a sample every ${o.sampleSec} s, warm-up ${fmt(o.warmupSec, 0)} s; ` +
      `${(r.content.totalBytes / MiB).toFixed(0)} MiB of content (cold library ${(r.content.libraryBytes / MiB).toFixed(0)} MiB) through segd --cache-size ${o.cacheSize}; ` +
      `${o.players} players; segd ${r.pinned ? 'pinned to CPU 0, traffic to CPU 1' : 'not pinned'}; ${os.cpus().length} CPUs, node ${process.version}; segd ${r.segd.stop}.`,
    '',
    r.failures.length === 0 ? '**PASS**' : `**FAIL**: ${r.failures.join('; ')}`,
    '',
    ...markdownTable(TREND_HEAD, trendRows(trends), TREND_NUMERIC),
    '',
    judged === 0 ? `Trends not judged: fewer than ${MIN_SAMPLES} samples after the warm-up.` : 'Rise: growth of the least-squares line after the warm-up; last−middle: mean of the last third minus mean of the middle third. Rising = rise > tolerance and last−middle > tolerance / 3.',
    '',
    ...markdownTable(OUTCOME_HEAD, outcomeRows(r.outcomes), OUTCOME_NUMERIC),
    '',
    ...(r.unexplained.length > 0 ? ['First unexplained errors:', '', ...r.unexplained.map((d) => `- ${d}`), ''] : []),
    ...(r.segdComplained ? ["segd's stderr (end):", '', '```', r.segd.stderr.trimEnd(), '```', ''] : []),
    `segd_requests_total at the last sample: ${Object.entries(r.samples.at(-1)?.segdStatus ?? {}).map(([s, n]) => `${s}: ${n}`).join(', ')}`,
    '',
    '![soak chart](chart.svg)',
    '',
  ].join('\n');
}

/** Starts segd, runs the traffic for --duration while sampling, stops both; judges nothing. */
async function run(opts: SoakOptions, startedAt: Date, log: (line: string) => void): Promise<SoakResult> {
  let stopTraffic: (() => Promise<void>) | null = null;
  const uninstall = installCleanupHandlers(() => void stopTraffic?.());
  try {
    const pinned = opts.pin && which('taskset') !== null && os.cpus().length >= 2;
    if (opts.pin && !pinned) log('not pinning to CPUs (needs taskset and 2 CPUs)');
    if (pinned && !pinSelf(GENERATOR_CPU)) log('could not pin this process to CPU 1');
    const spec = { ...FULL_CONTENT, coldBytes: opts.librarySize };
    const content = await ensureContent(path.join(BENCH_DIR, '.data', contentKey(spec)), spec, log);
    const ctx = {
      opts: defaultOptions({ segdCli: opts.segdCli, segdCacheSize: opts.cacheSize, pin: pinned, log }),
      content,
      segdArgs: ['--no-player'],
    };
    const why = serverUnavailable('segd', ctx);
    if (why) throw new Error(`segd: ${why}`);
    const server = await startServer('segd', ctx);
    await mkdir(opts.outDir, { recursive: true });
    log(`segd pid ${server.pid} on ${server.baseUrl}, --cache-size ${opts.cacheSize}; ${(content.totalBytes / MiB).toFixed(0)} MiB of content in ${content.dir}`);
    log(`${fmt(opts.durationSec / 60)} min of traffic, a sample every ${opts.sampleSec} s, warm-up ${fmt(opts.warmupSec, 0)} s; results in ${opts.outDir}`);

    const t0 = Date.now();
    const tally = new Tally(() => (Date.now() - t0) / 1000);
    const watch = new SegdWatch(server, tally);
    const sampler = new Sampler(server.pid, server.port, tally, t0);
    const result: SoakResult = {
      startedAt: startedAt.toISOString(),
      options: opts,
      content: { dir: content.dir, totalBytes: content.totalBytes, libraryBytes: content.coldPaths.length * spec.coldSegmentBytes },
      pinned,
      segd: { pid: server.pid, stop: '', stderr: '' },
      mix: MIX,
      samples: [await sampler.take()],
      trends: [],
      outcomes: [],
      unexplained: [],
      segdComplained: false,
      failures: [],
    };
    log(progressLine(result.samples[0]!));
    stopTraffic = startTraffic({ port: server.port, content, players: opts.players, slowReadSec: opts.slowReadSec, tally }).stop;
    // segd exiting ends the run at once: what the clients see after that is only its consequence.
    const exited = server.proc.exited.then(() => undefined);
    for (let k = 1; k * opts.sampleSec <= opts.durationSec + 1e-9; k++) {
      await Promise.race([sleep(Math.max(0, t0 + k * opts.sampleSec * 1000 - Date.now())), exited]);
      if (server.proc.hasExited()) break;
      const s = await sampler.take();
      watch.check(s);
      result.samples.push(s);
      await saveSamples(result);
      log(progressLine(s));
    }
    watch.check();
    await stopTraffic();
    stopTraffic = null;
    result.segd.stop = await server.stop();
    result.segd.stderr = server.proc.stderr().slice(-4000);
    result.outcomes = tally.table();
    result.unexplained = tally.details;
    result.segdComplained = watch.complained;
    return result;
  } finally {
    await stopTraffic?.();
    killAllSync(); // segd, when the run ended early
    uninstall();
  }
}

/** Rewritten after every sample, so that an interrupted run keeps its data. */
const saveSamples = (r: SoakResult): Promise<void> => writeFile(path.join(r.options.outDir, 'samples.json'), `${JSON.stringify(r, null, 1)}\n`);

const unexplainedCount = (r: SoakResult): number => r.outcomes.reduce((n, o) => n + (o.explained ? 0 : o.count), 0);

/** The verdict: rising metrics, unexplained errors, a segd that had to be killed. */
function judgeRun(r: SoakResult): Trend[] {
  const trends = METRICS.map((def) => judge(r.samples, def, r.options.warmupSec));
  r.trends = trends.map(({ def, ...t }) => ({ metric: def.key, ...t }));
  for (const t of trends.filter((x) => x.verdict === 'rising')) {
    r.failures.push(`${t.def.label} rising (${fmt(shown(t.def, t.rise))} ${t.def.unit} over the window, tolerance ${fmt(shown(t.def, t.tolerance))})`);
  }
  const unexplained = unexplainedCount(r);
  if (unexplained > 0) r.failures.push(`${unexplained} unexplained errors`);
  if (r.segd.stop.includes('killed')) r.failures.push(`segd ${r.segd.stop}`);
  return trends;
}

async function writeResults(r: SoakResult, trends: readonly Trend[], command: string): Promise<void> {
  const o = r.options;
  const title = `segd soak ${r.startedAt}: ${r.failures.length === 0 ? 'PASS' : 'FAIL'}`;
  const notes = [
    `${fmt(o.durationSec / 60)} min, ${(r.content.totalBytes / MiB).toFixed(0)} MiB of content through a ${o.cacheSize} cache, ${o.players} players + hostile traffic; shaded: warm-up (not judged)`,
    `dashed: least-squares line after the warm-up, red when rising; ${unexplainedCount(r)} unexplained errors`,
  ];
  await saveSamples(r);
  await writeFile(path.join(o.outDir, 'chart.svg'), soakSvg(title, notes, r.samples, trends, o.warmupSec));
  await writeFile(path.join(o.outDir, 'summary.md'), toMarkdown(r, trends, command));
}

function printSummary(r: SoakResult, trends: readonly Trend[], log: (line: string) => void): void {
  log('');
  log(alignedTable(TREND_HEAD, trendRows(trends), TREND_NUMERIC));
  log('');
  log(alignedTable(OUTCOME_HEAD, outcomeRows(r.outcomes), OUTCOME_NUMERIC));
  if (r.unexplained.length > 0) log(`\nfirst unexplained errors:\n${r.unexplained.map((d) => `  ${d}`).join('\n')}`);
  if (r.segdComplained) log(`\nsegd's stderr (end):\n${r.segd.stderr}`);
  log(`\nsegd ${r.segd.stop}`);
  log(`results: ${path.relative(process.cwd(), r.options.outDir)}/{samples.json,summary.md,chart.svg}`);
  log(r.failures.length === 0 ? 'PASS' : `FAIL: ${r.failures.join('; ')}`);
}

async function main(): Promise<number> {
  const startedAt = new Date();
  let opts: SoakOptions | null;
  try {
    opts = parseOptions(process.argv.slice(2), startedAt);
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (!opts) {
    console.log(USAGE);
    return 0;
  }
  const log = (line: string): void => console.log(line);
  const result = await run(opts, startedAt, log);
  const trends = judgeRun(result);
  await writeResults(result, trends, ['npx tsx bench/soak.ts', ...process.argv.slice(2)].join(' '));
  printSummary(result, trends, log);
  return result.failures.length === 0 ? 0 : 1;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(e instanceof Error ? (e.stack ?? e.message) : e);
      process.exit(1);
    },
  );
}
