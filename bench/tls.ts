// HTTPS and HTTP/2: segd against nginx with the same certificate and TLS settings, HTTP/1.1
// over TLS under wrk and HTTP/2 under h2load, on the main bench's content.
//
//   npx tsx bench/tls.ts [--quick] [--duration S] [--servers segd,nginx] [--scenarios h1-segments,...]
//   npx tsx bench/tls.ts --help
//
// Results: a Markdown table on stdout and bench/results/tls-<timestamp>.{json,md}. See
// bench/README.md, "TLS and HTTP/2".
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ensureContent } from './content.js';
import { loadFigures, NO_FIGURES, type LoadFigures } from './generators/types.js';
import { setWrkCpu, wrkAvailable, wrkGenerator } from './generators/wrk.js';
import { BENCH_DIR, contentKey, FULL_CONTENT, parseFlags, QUICK_CONTENT, REPO_DIR, runAsMain } from './options.js';
import { cpuSeconds, groupPids, installCleanupHandlers, killAllSync, liveGroups, pinSelf, which } from './procs.js';
import { GENERATOR_CPU, SERVER_CPU, withServer } from './servers.js';
import { makeCerts } from './tls/certs.js';
import { abortH2load, h2loadAvailable, runH2load } from './tls/h2load.js';
import { preflight, TLS_SCENARIO_DEFS, TLS_SCENARIOS, type TlsScenario, type TlsScenarioName } from './tls/scenarios.js';
import { serves, startTlsServer, TLS_SERVERS, tlsServerUnavailable, type TlsServer, type TlsServerName } from './tls/servers.js';

/** A generator at this share of its CPU or more is (near) its limit: the row's figure is a floor. */
const GENERATOR_BOUND = 0.85;

export interface TlsOptions {
  quick: boolean;
  servers: TlsServerName[];
  scenarios: TlsScenarioName[];
  durationSec: number;
  warmupSec: number;
  /** wrk's connections for the HTTP/1.1 scenarios. */
  connections: number;
  segdCacheSize: string;
  segdCli: string;
  /** segd --workers and nginx worker_processes; above 1 nothing is pinned (the servers use every core). */
  workers: number;
  pin: boolean;
  /** Per-request log of h2load for its p50/p99. */
  latencyLog: boolean;
  /** Times every server is measured, in alternating order; ratios are taken within a round. */
  rounds: number;
  outDir: string | null;
  log: (line: string) => void;
}

export function defaultTlsOptions(o: Partial<TlsOptions> = {}): TlsOptions {
  const quick = o.quick ?? false;
  return {
    quick,
    servers: [...TLS_SERVERS],
    scenarios: [...TLS_SCENARIOS],
    durationSec: quick ? 3 : 10,
    warmupSec: quick ? 1 : 2,
    connections: 32,
    segdCacheSize: '256MiB',
    segdCli: path.join(REPO_DIR, 'dist', 'src', 'cli', 'main.js'),
    workers: 1,
    pin: true,
    latencyLog: true,
    rounds: 1,
    outDir: path.join(BENCH_DIR, 'results'),
    log: (line) => console.log(line),
    ...o,
  };
}

export const TLS_USAGE = `usage: npx tsx bench/tls.ts [options]
  --quick                 1 s warm-up + 3 s per server and scenario (about 1 min)
  --duration SECONDS      measured seconds per server and scenario (default 10)
  --warmup SECONDS        unmeasured run before each measurement (default 2, quick 1)
  --servers a,b           ${TLS_SERVERS.join(',')}
  --scenarios a,b         ${TLS_SCENARIOS.join(',')}
  --connections N         wrk connections for the HTTP/1.1 scenarios (default 32)
  --cache-size SIZE       segd --cache-size (default 256MiB)
  --segd-cli FILE         segd's CLI (default dist/src/cli/main.js; a .ts file runs via tsx)
  --workers N             segd --workers N against nginx worker_processes N, unpinned (default 1, pinned)
  --no-latency-log        no h2load --log-file (no p50/p99 for HTTP/2)
  --rounds N              measure every server N times, in alternating order (default 1); the
                          ratios are taken within each round, and their medians reported
  --no-pin                do not pin the server to CPU 0 and the generator to CPU 1
  --out DIR               where tls-<timestamp>.{json,md} go (default bench/results)
needs: openssl, nginx (nginx-light), wrk, h2load (nghttp2-client); segd built (npm run build:ts)`;

export function parseTlsArgs(argv: string[]): TlsOptions | null {
  const o: Partial<TlsOptions> = {};
  const common = parseFlags(argv, { servers: TLS_SERVERS, scenarios: TLS_SCENARIOS }, TLS_USAGE, (flag, args) => {
    if (flag === '--cache-size') o.segdCacheSize = args.value(flag);
    else if (flag === '--no-latency-log') o.latencyLog = false;
    else if (flag === '--workers') o.workers = Math.floor(args.number(flag, 1));
    else if (flag === '--rounds') o.rounds = Math.floor(args.number(flag, 1));
    else return false;
    return true;
  });
  return common && defaultTlsOptions({ ...o, ...common });
}

export interface TlsRow extends LoadFigures {
  /** 1, 2, ...: the round of the run (--rounds). */
  round: number;
  scenario: TlsScenarioName;
  protocol: 'HTTP/1.1' | 'HTTP/2';
  server: TlsServerName;
  generator: string;
  /** Why the row has no figures, or why they do not count (non-2xx, not h2...); null when fine. */
  failed: string | null;
  preflight: string;
  /** Negotiated TLS (preflight's client; h2load's own for HTTP/2). */
  tls: string;
  non2xx: number;
  /** Server CPU seconds per GB received by the generator. */
  cpuSecPerGB: number;
  /** h2load: what it printed from "finished in" on, and the rows of its per-request log. */
  h2load?: { summary: string; logRows: number };
}

export interface TlsReport {
  startedAt: string;
  finishedAt: string;
  command: string;
  quick: boolean;
  durationSec: number;
  warmupSec: number;
  pinned: boolean;
  /** Processes per server. */
  workers: number;
  rounds: number;
  machine: { cpus: number; cpuModel: string; loadavgStart: number[]; loadavgEnd: number[]; node: string; nodeOpenssl: string };
  tools: Record<string, string | null>;
  servers: Array<{ name: TlsServerName; notes: string[]; error: string | null }>;
  rows: TlsRow[];
  notes: string[];
}

function version(cmd: string, args: string[], pattern: RegExp): string | null {
  const bin = which(cmd);
  if (!bin) return null;
  const r = spawnSync(bin, args, { encoding: 'utf8' });
  return pattern.exec(`${r.stdout ?? ''}${r.stderr ?? ''}`)?.[0] ?? 'unknown version';
}

const empty = (s: TlsScenario, server: TlsServerName, failed: string, pre = '', tls = ''): TlsRow => ({
  round: 1,
  scenario: s.name,
  protocol: s.protocol,
  server,
  generator: s.wrk ? 'wrk' : 'h2load',
  failed,
  preflight: pre,
  tls,
  ...NO_FIGURES,
  non2xx: 0,
  cpuSecPerGB: NaN,
});

async function measure(server: TlsServer, s: TlsScenario, ctx: { content: Awaited<ReturnType<typeof ensureContent>>; ca: Buffer; opts: TlsOptions; genCpu: number | null }): Promise<TlsRow> {
  const { content, ca, opts } = ctx;
  const pre = await preflight(s, server.baseUrl, content, ca);
  if (!pre.ok) return empty(s, server.name, 'preflight failed', pre.detail, pre.tls);
  const pids = groupPids(server.pid);
  if (s.wrk) {
    const run = { baseUrl: server.baseUrl, plan: s.wrk(content), connections: opts.connections, expectStatus: 200 };
    if (opts.warmupSec > 0) await wrkGenerator.run({ ...run, durationSec: opts.warmupSec });
    const cpu0 = cpuSeconds(pids);
    const r = await wrkGenerator.run({ ...run, durationSec: opts.durationSec });
    const srv = cpuSeconds(pids) - cpu0;
    return {
      ...empty(s, server.name, '', pre.detail, pre.tls),
      generator: `wrk -t1 -c${opts.connections}`,
      failed: r.requests === 0 ? 'no request completed' : r.unexpectedStatus > 0 ? `${r.unexpectedStatus} responses >= 400` : null,
      ...loadFigures(r, opts.durationSec, srv),
      non2xx: r.unexpectedStatus,
      cpuSecPerGB: r.bytes > 0 ? srv / (r.bytes / 1e9) : NaN,
    };
  }
  const h = s.h2load!;
  const run = { uris: h.paths(content).map((p) => `${server.baseUrl}${p}`), clients: h.clients, streams: h.streams, cpu: ctx.genCpu, latencyLog: opts.latencyLog };
  if (opts.warmupSec > 0) await runH2load({ ...run, durationSec: opts.warmupSec, latencyLog: false });
  const cpu0 = cpuSeconds(pids);
  const r = await runH2load({ ...run, durationSec: opts.durationSec });
  const srv = cpuSeconds(pids) - cpu0;
  const non2xx = r.status['3xx'] + r.status['4xx'] + r.status['5xx'];
  const problems: string[] = [];
  if (r.done === 0) problems.push('no request completed');
  if (r.protocol !== 'h2') problems.push(`h2load negotiated ${r.protocol}, not h2`);
  if (non2xx > 0) problems.push(`${non2xx} non-2xx responses`);
  const errors = r.failed + r.errored + r.timeout;
  return {
    ...empty(s, server.name, '', pre.detail, r.tls || pre.tls),
    generator: `h2load -c${h.clients} -m${h.streams}`,
    failed: problems.length ? problems.join('; ') : null,
    requests: r.done,
    seconds: r.seconds,
    reqPerSec: r.done / r.seconds,
    bytesPerSec: r.bytes / r.seconds,
    p50Ms: r.p50Ms,
    p99Ms: r.p99Ms,
    errors,
    non2xx,
    serverCpu: srv / r.seconds,
    cpuSecPerGB: r.bytes > 0 ? srv / (r.bytes / 1e9) : NaN,
    generatorCpu: r.cpuSeconds / r.seconds,
    h2load: { summary: r.raw, logRows: r.logRows },
  };
}

const f = (n: number, d = 0): string => (Number.isFinite(n) ? n.toFixed(d) : '-');
const fk = (n: number): string => (!Number.isFinite(n) ? '-' : n >= 10_000 ? `${(n / 1000).toFixed(1)}k` : n.toFixed(0));
const fms = (n: number): string => (!Number.isFinite(n) ? '-' : n < 10 ? n.toFixed(2) : n.toFixed(1));

/** The servers segd's rows are compared with, each in a column of its own. */
const ANCHORS: ReadonlyArray<readonly [TlsServerName, string]> = [
  ['nginx', 'segd ÷ nginx'],
  ['node-h2', 'segd ÷ node:http2'],
  ['node-h2-fields', "segd ÷ node:http2 with segd's fields"],
  ['node-https', 'segd ÷ node:https'],
];

/** segd's req/s over `anchor`'s in the same scenario and round, or undefined where either is missing or failed. */
function ratio(report: TlsReport, r: TlsRow, anchor: TlsServerName): number | undefined {
  if (r.server !== 'segd' || r.failed) return undefined;
  const a = report.rows.find((x) => x.server === anchor && x.scenario === r.scenario && x.round === r.round && !x.failed);
  return a === undefined ? undefined : r.reqPerSec / a.reqPerSec;
}

/** Per scenario and anchor: the median of the rounds' ratios, and their range. */
export function medianRatios(report: TlsReport): Array<{ scenario: TlsScenarioName; anchor: TlsServerName; median: number; min: number; max: number; rounds: number }> {
  const out = [];
  for (const scenario of TLS_SCENARIOS) {
    for (const [anchor] of ANCHORS) {
      const ratios = report.rows
        .filter((r) => r.scenario === scenario)
        .map((r) => ratio(report, r, anchor))
        .filter((x): x is number => x !== undefined)
        .sort((a, b) => a - b);
      if (ratios.length === 0) continue;
      const mid = ratios.length >> 1;
      const median = ratios.length % 2 === 1 ? ratios[mid]! : (ratios[mid - 1]! + ratios[mid]!) / 2;
      out.push({ scenario, anchor, median, min: ratios[0]!, max: ratios[ratios.length - 1]!, rounds: ratios.length });
    }
  }
  return out;
}

export function tlsMarkdown(report: TlsReport): string {
  const rounds = report.rounds > 1;
  const head = ['scenario', 'server', ...(rounds ? ['round'] : []), 'load', 'req/s', 'MB/s', 'p50 ms', 'p99 ms', 'errors', 'non-2xx', 'srv CPU', 'CPU s/GB', 'gen CPU', ...ANCHORS.map(([, title]) => title)];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const scenario of TLS_SCENARIOS) {
    for (const r of report.rows.filter((x) => x.scenario === scenario)) {
      const who = `${r.scenario} | ${r.server}${r.failed && r.requests > 0 ? ` (failed: ${r.failed})` : ''}${rounds ? ` | ${r.round}` : ''}`;
      if (r.requests === 0) {
        lines.push(`| ${who} | ${r.generator} | ${r.failed}${r.preflight ? `: ${r.preflight.replace(/\|/g, '/')}` : ''} |${' |'.repeat(head.length - (rounds ? 5 : 4))}`);
        continue;
      }
      const nginx = report.rows.find((x) => x.server === 'nginx' && x.scenario === r.scenario && x.round === r.round && !x.failed);
      const ratios = ANCHORS.map(([anchor]) => {
        const x = ratio(report, r, anchor);
        if (x === undefined) return '';
        return anchor === 'nginx' ? `${x.toFixed(2)} (CPU/GB ${(r.cpuSecPerGB / nginx!.cpuSecPerGB).toFixed(2)})` : x.toFixed(2);
      });
      lines.push(
        `| ${who} | ${r.generator} | ${fk(r.reqPerSec)}${r.generatorCpu >= GENERATOR_BOUND ? '*' : ''} | ${f(r.bytesPerSec / 1e6)} | ${fms(r.p50Ms)} | ${fms(r.p99Ms)} | ${r.errors} | ${r.non2xx} | ${f(r.serverCpu, 2)} | ${f(r.cpuSecPerGB, 2)} | ${f(r.generatorCpu, 2)} | ${ratios.join(' | ')} |`,
      );
    }
  }
  if (rounds) {
    lines.push('', `Medians over the rounds (segd's req/s over the anchor's in the same round; the range in brackets):`);
    for (const m of medianRatios(report)) lines.push(`- ${m.scenario}, segd ÷ ${m.anchor}: **${m.median.toFixed(2)}** over ${m.rounds} round${m.rounds === 1 ? '' : 's'} (${m.min.toFixed(2)}–${m.max.toFixed(2)})`);
  }
  const m = report.machine;
  const t = report.tools;
  return [
    `# segd against nginx over TLS (${report.startedAt})`,
    '',
    `\`${report.command}\`: ${report.quick ? 'quick, ' : ''}${report.warmupSec} s warm-up + ${report.durationSec} s per server and scenario${report.rounds > 1 ? `, ${report.rounds} rounds in alternating order` : ''}; ${report.workers} process${report.workers === 1 ? '' : 'es'} per server (segd --workers, nginx worker_processes); ${report.pinned ? 'servers pinned to CPU 0, generators to CPU 1' : 'not pinned: servers and generators share every core'}.`,
    `${m.cpus} × ${m.cpuModel}; load average ${m.loadavgStart.map((x) => x.toFixed(2)).join(' ')} at the start, ${m.loadavgEnd.map((x) => x.toFixed(2)).join(' ')} at the end; node ${m.node} (OpenSSL ${m.nodeOpenssl}); ${[t.nginx, t.openssl, t.wrk, t.h2load].filter(Boolean).join(', ')}.`,
    '',
    ...lines,
    '',
    `req/s and MB/s as the generator counted them (MB = 10^6 bytes received, headers included); p50/p99: wrk's histogram, h2load's per-request log; errors: connect/read/write errors and timeouts (h2load: failed + errored + timeout); non-2xx: wrk counts statuses >= 400 only, h2load every 3xx-5xx; srv CPU and gen CPU in cores; CPU s/GB: the server group's CPU seconds per GB received; the ratio is of req/s, CPU/GB is segd's CPU s/GB ÷ nginx's; * the generator used ${GENERATOR_BOUND} of its CPU or more: a floor, not the server's limit.`,
    '',
    'TLS negotiated (HTTP/1.1: by the preflight\'s node client; both servers choose in their own order, so wrk gets the same; HTTP/2: by h2load): ' + [...new Set(report.rows.map((r) => `${r.server} ${r.protocol}: ${r.tls}`))].join('; '),
    ...report.servers.flatMap((s) => (s.error ? [`- ${s.name}: ${s.error}`] : s.notes.length ? [`- ${s.name}: ${s.notes.join('; ')}`] : [])),
    ...report.notes.map((n) => `- ${n}`),
    '',
  ].join('\n');
}

/** The content of the main bench: the full layout's directory when generated, else the quick one (the hot set is the same). */
async function content(log: (l: string) => void): Promise<Awaited<ReturnType<typeof ensureContent>>> {
  const full = path.join(BENCH_DIR, '.data', contentKey(FULL_CONTENT));
  const spec = existsSync(full) ? FULL_CONTENT : QUICK_CONTENT;
  return ensureContent(path.join(BENCH_DIR, '.data', contentKey(spec)), spec, log);
}

export async function runTlsBench(overrides: Partial<TlsOptions> = {}, command = 'npx tsx bench/tls.ts'): Promise<{ report: TlsReport; files: string[] }> {
  const opts = defaultTlsOptions(overrides);
  const log = opts.log;
  const uninstall = installCleanupHandlers(() => {
    wrkGenerator.abort();
    abortH2load();
  });
  try {
    const pinned = opts.pin && opts.workers === 1 && which('taskset') !== null && os.cpus().length >= 2;
    if (opts.pin && !pinned) log('not pinning to CPUs (needs taskset and 2 CPUs)');
    setWrkCpu(pinned ? GENERATOR_CPU : null);
    // The preflight clients run in this process: off the server's CPU.
    if (pinned && !pinSelf(GENERATOR_CPU)) log('could not pin this process to CPU 1');
    const missing = [
      !wrkAvailable() && opts.scenarios.some((s) => TLS_SCENARIO_DEFS[s].wrk) ? 'wrk' : '',
      !h2loadAvailable() && opts.scenarios.some((s) => TLS_SCENARIO_DEFS[s].h2load) ? 'h2load (nghttp2-client)' : '',
    ].filter(Boolean);
    if (missing.length) throw new Error(`not installed: ${missing.join(', ')}`);
    const certs = makeCerts();
    const ca = readFileSync(certs.ca);
    const data = await content(log);
    const report: TlsReport = {
      startedAt: new Date().toISOString(),
      finishedAt: '',
      command,
      quick: opts.quick,
      durationSec: opts.durationSec,
      warmupSec: opts.warmupSec,
      pinned,
      workers: opts.workers,
      rounds: opts.rounds,
      machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model.trim() ?? '?', loadavgStart: os.loadavg(), loadavgEnd: [], node: process.version, nodeOpenssl: process.versions.openssl ?? '?' },
      tools: {
        nginx: version('nginx', ['-v'], /nginx\/[\d.]+/),
        openssl: version('openssl', ['version'], /OpenSSL [\d.]+/),
        wrk: version('wrk', ['-v'], /wrk \S+/),
        h2load: version('h2load', ['--version'], /nghttp2\/[\d.]+/)?.replace('nghttp2', 'h2load') ?? null,
      },
      servers: [],
      rows: [],
      notes: [
        'nginx: sendfile is on but does nothing under TLS: without kernel TLS (not enabled here) nginx reads each file into its buffers and encrypts in user space, as segd does.',
      ],
    };
    const perRun = opts.warmupSec + opts.durationSec;
    const runs = opts.servers.length * opts.scenarios.length * opts.rounds;
    log(`tls bench: ${opts.servers.length} servers × ${opts.scenarios.length} scenarios${opts.rounds > 1 ? ` × ${opts.rounds} rounds` : ''} × ${perRun} s ≈ ${Math.ceil((runs * perRun) / 60)} min of load; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    const sctx = { content: data, certs, cpu: pinned ? SERVER_CPU : null, segdCli: opts.segdCli, segdCacheSize: opts.segdCacheSize, workers: opts.workers };
    // Rounds alternate the servers' order, so a machine that drifts during a run favours none of them.
    for (let round = 1; round <= opts.rounds; round++) {
      for (const name of round % 2 === 1 ? opts.servers : [...opts.servers].reverse()) {
        let status = report.servers.find((x) => x.name === name);
        if (status === undefined) report.servers.push((status = { name, notes: [], error: null }));
        const why = tlsServerUnavailable(name, sctx);
        if (why) {
          status.error = why;
          log(`${name}: unavailable: ${why}`);
          continue;
        }
        let server: TlsServer;
        try {
          server = await startTlsServer(name, sctx);
        } catch (e) {
          status.error = `failed to start: ${(e as Error).message}`;
          log(`${name}: ${status.error}`);
          continue;
        }
        if (round === 1) status.notes.push(...server.notes);
        log(`${name}${opts.rounds > 1 ? ` (round ${round})` : ''}: serving on ${server.baseUrl} (pid ${server.pid})${server.notes.length ? ` ${server.notes.join('; ')}` : ''}`);
        await withServer(server, status.notes, log, async () => {
          for (const sn of opts.scenarios) {
            const s = TLS_SCENARIO_DEFS[sn];
            if (!serves(name, s)) continue;
            let row: TlsRow;
            if (server.proc.hasExited()) row = empty(s, name, 'server exited');
            else {
              try {
                row = await measure(server, s, { content: data, ca, opts, genCpu: pinned ? GENERATOR_CPU : null });
              } catch (e) {
                row = empty(s, name, `error: ${(e as Error).message.split('\n')[0]}`);
              }
            }
            report.rows.push({ ...row, round });
            log(
              row.requests === 0
                ? `  ${sn.padEnd(12)} ${row.failed}${row.preflight ? ` (${row.preflight})` : ''}`
                : `  ${sn.padEnd(12)} ${f(row.reqPerSec).padStart(7)} req/s ${f(row.bytesPerSec / 1e6, 1).padStart(7)} MB/s  p50 ${fms(row.p50Ms)} p99 ${fms(row.p99Ms)} ms  errors ${row.errors}  non-2xx ${row.non2xx}  [${row.generator}, srv ${f(row.serverCpu, 2)} / gen ${f(row.generatorCpu, 2)} CPU, ${f(row.cpuSecPerGB, 2)} s/GB, ${row.tls}]${row.failed ? `  FAILED: ${row.failed}` : ''}`,
            );
          }
        });
      }
    }
    report.finishedAt = new Date().toISOString();
    report.machine.loadavgEnd = os.loadavg();
    const left = liveGroups();
    if (left.length) report.notes.push(`process groups still alive at the end (killed): ${left.join(', ')}`);
    const md = tlsMarkdown(report);
    log('');
    log(md);
    const files: string[] = [];
    if (opts.outDir) {
      await mkdir(opts.outDir, { recursive: true });
      const stamp = `tls-${report.startedAt.replace(/[:.]/g, '-')}`;
      files.push(path.join(opts.outDir, `${stamp}.json`), path.join(opts.outDir, `${stamp}.md`));
      await writeFile(files[0]!, `${JSON.stringify(report, null, 2)}\n`);
      await writeFile(files[1]!, md);
      log(`results: ${files.map((x) => path.relative(process.cwd(), x)).join(', ')}`);
    }
    return { report, files };
  } finally {
    killAllSync();
    uninstall();
  }
}

runAsMain(import.meta.url, parseTlsArgs, TLS_USAGE, (opts) => runTlsBench(opts, ['npx tsx bench/tls.ts', ...process.argv.slice(2)].join(' ')));
