// Edge scenarios: segd --origin against nginx proxy_cache and Varnish in front of the same origin.
//
//   npx tsx bench/edge.ts [--quick] [--servers segd,nginx,varnish] [--scenarios herd,hits,fill,outage]
//   npx tsx bench/edge.ts --help
//
// Results: a table per scenario on stdout, and bench/results/edge-<timestamp>/{report.json,
// report.md, chart.svg}. See bench/README.md, "Edge".
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setWrkCpu, wrkAvailable, wrkGenerator } from './generators/wrk.js';
import { runAsMain } from './options.js';
import { installCleanupHandlers, killAllSync, liveGroups, pinSelf, which } from './procs.js';
import { abortClients } from './edge/client.js';
import { edgeUnavailable, type EdgeName } from './edge/edges.js';
import { makePool } from './edge/objects.js';
import { defaultEdgeOptions, EDGE_USAGE, parseEdgeArgs, poolBytes, type EdgeOptions } from './edge/options.js';
import { edgeMarkdown, edgeSvg, evaluateGoals, formatEdgeReport, type EdgeReport } from './edge/report.js';
import { herdBaseline, runFill, runHerd, runHits, runOutage, settingsFor, variantsFor, type EdgeContext, type RowBase } from './edge/scenarios.js';

const GENERATOR_CPU = 1;

function version(cmd: string, args: string[], pattern: RegExp): string | null {
  const bin = which(cmd);
  if (!bin) return null;
  const r = spawnSync(bin, args, { encoding: 'utf8' });
  return pattern.exec(`${r.stdout ?? ''}${r.stderr ?? ''}`)?.[0] ?? 'unknown version';
}

function rowLine(r: RowBase, figure: string): string {
  return `  ${r.label.padEnd(44)} ${r.skipped ? `skipped: ${r.skipped}` : figure}${r.notes.length ? `  [${r.notes.length} note(s)]` : ''}`;
}

export async function runEdgeBench(overrides: Partial<EdgeOptions> = {}, command = 'npx tsx bench/edge.ts'): Promise<{ report: EdgeReport; dir: string | null }> {
  const opts = defaultEdgeOptions(overrides);
  const log = opts.log;
  const uninstall = installCleanupHandlers(() => {
    wrkGenerator.abort();
    abortClients();
  });
  try {
    const pinned = opts.pin && which('taskset') !== null && os.cpus().length >= 2;
    if (opts.pin && !pinned) log('not pinning to CPUs (needs taskset and 2 CPUs)');
    opts.pin = pinned;
    setWrkCpu(pinned ? GENERATOR_CPU : null);
    // The herd and sweep clients run in this process, next to the origin and wrk.
    if (pinned && opts.pinSelf && !pinSelf(GENERATOR_CPU)) log('could not pin this process to CPU 1');
    const report: EdgeReport = {
      startedAt: new Date().toISOString(),
      finishedAt: '',
      quick: opts.quick,
      command,
      options: Object.fromEntries(Object.entries(opts).filter(([k]) => k !== 'log')),
      machine: { cpus: os.cpus().length, loadavgStart: os.loadavg(), loadavgEnd: [], node: process.version },
      pinned,
      tools: {
        nginx: version('nginx', ['-v'], /nginx\/[\d.]+/),
        varnish: version('varnishd', ['-V'], /varnish-[\d.]+/),
        wrk: version('wrk', ['-v'], /wrk \S+/),
      },
      scenarios: opts.scenarios,
      goals: [],
      notes: [],
    };
    const available: EdgeName[] = [];
    for (const s of opts.servers) {
      const why = edgeUnavailable(s, settingsFor({ opts, pool: Buffer.alloc(0), nonce: '' }, { server: s, id: s, label: s }));
      if (why) {
        report.notes.push(`${s} unavailable: ${why}`);
        log(`${s}: unavailable: ${why}`);
      } else available.push(s);
    }
    opts.servers = available;
    if (!wrkAvailable() && opts.scenarios.some((s) => s === 'hits' || s === 'fill')) {
      report.notes.push('wrk not installed: hits and fill skipped (apt-get install wrk)');
      opts.scenarios = opts.scenarios.filter((s) => s !== 'hits' && s !== 'fill');
    }
    const ctx: EdgeContext = { opts, pool: makePool(opts.seed, poolBytes(opts)), nonce: Date.now().toString(36) };

    for (const scenario of opts.scenarios) {
      log(`${scenario}:`);
      switch (scenario) {
        case 'herd': {
          const baseline = await herdBaseline(ctx);
          const rows = [];
          for (const v of variantsFor(ctx, 'herd')) {
            for (const r of await runHerd(ctx, v)) {
              rows.push(r);
              const t = r.trials.map((x) => `origin ${x.originRequests}, p50 first byte ${x.p50TtfbMs.toFixed(1)} ms, p99 last ${x.p99TtlbMs.toFixed(0)} ms, intact ${x.intact}/${x.clients}`);
              log(rowLine(r, t.join(' | ')));
            }
          }
          for (const b of baseline) log(`  ${b.label.padEnd(44)} p50 first byte ${b.trials.map((x) => x.p50TtfbMs.toFixed(1)).join(', ')} ms`);
          report.herd = { baseline, rows };
          break;
        }
        case 'hits':
          report.hits = [];
          for (const v of variantsFor(ctx, 'hits')) {
            const r = await runHits(ctx, v);
            report.hits.push(r);
            log(rowLine(r, `${((r.bytesPerSec ?? 0) / 1e9).toFixed(2)} GB/s, ${r.errors ?? 0} errors, origin requests during ${r.originRequestsDuring}${r.tierHits ? `, hits ${JSON.stringify(r.tierHits)}` : ''}`));
          }
          break;
        case 'fill':
          report.fill = [];
          for (const v of variantsFor(ctx, 'fill')) {
            const r = await runFill(ctx, v);
            report.fill.push(r);
            log(rowLine(r, `${((r.bodyBytesPerSec ?? 0) / 1e9).toFixed(2)} GB/s, ${r.requests} objects, ${r.originRequests} origin requests`));
          }
          break;
        case 'outage':
          report.outage = [];
          for (const v of variantsFor(ctx, 'outage')) {
            const r = await runOutage(ctx, v);
            report.outage.push(r);
            const s = r.sets;
            log(rowLine(r, s ? `fresh ${s.fresh.firstPass.intact + s.fresh.loop.intact}/${s.fresh.firstPass.requests + s.fresh.loop.requests}, stale ${s.stale.firstPass.intact + s.stale.loop.intact}/${s.stale.firstPass.requests + s.stale.loop.requests}, uncached ${r.uncached?.map((u) => `${u.status || u.error} in ${u.ms.toFixed(0)} ms`).join(' / ')}` : ''));
          }
          break;
      }
    }
    report.finishedAt = new Date().toISOString();
    report.machine.loadavgEnd = os.loadavg();
    report.goals = evaluateGoals(report);
    const left = liveGroups();
    if (left.length) report.notes.push(`process groups still alive at the end (killed): ${left.join(', ')}`);
    log('');
    log(formatEdgeReport(report));
    let dir: string | null = null;
    if (opts.outDir) {
      dir = path.join(opts.outDir, `edge-${report.startedAt.replace(/[:.]/g, '-')}`);
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
      await writeFile(path.join(dir, 'report.md'), edgeMarkdown(report, 'chart.svg'));
      await writeFile(path.join(dir, 'chart.svg'), edgeSvg(report));
      log(`results: ${path.relative(process.cwd(), dir)}/{report.json,report.md,chart.svg}`);
    }
    return { report, dir };
  } finally {
    killAllSync();
    uninstall();
  }
}

runAsMain(import.meta.url, parseEdgeArgs, EDGE_USAGE, (opts) => runEdgeBench(opts, ['npx tsx bench/edge.ts', ...process.argv.slice(2)].join(' ')));
