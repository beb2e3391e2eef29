// Smoke test of the benchmark harness (not a timing): one server, every scenario for about a
// second, in-process. Uses segd when dist/src/cli/main.js is built, else the bare node:http server;
// wrk when installed, else autocannon only. Never installs anything.
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cgroupUnavailable } from '../bench/cgroup.js';
import { toSvg } from '../bench/chart.js';
import { SCENARIO_NAMES, type ServerName } from '../bench/options.js';
import { groupAlive, liveGroups, portClosed } from '../bench/procs.js';
import { formatTable, toMarkdown } from '../bench/report.js';
import { runBench, type RunBenchResult } from '../bench/run.js';
import { SEGD_CLI } from '../bench/servers.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const server: ServerName = existsSync(SEGD_CLI) ? 'segd' : 'bare';
/** Why the disk scenario cannot confine a server here (not root, no memory cgroup), or null. */
const noCgroup = cgroupUnavailable();

describe(`bench harness (quick, against ${server})`, () => {
  let dir: string;
  let outcome: RunBenchResult;
  const lines: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'segd-bench-test-'));
    outcome = await runBench({
      quick: true,
      servers: [server],
      durationSec: 1,
      warmupSec: 0,
      connections: 8,
      content: {
        segmentCount: 8,
        segmentBytes: 256 * KiB,
        rangeFileBytes: 4 * MiB,
        rangeChunkBytes: 256 * KiB,
        coldBytes: 16 * MiB,
        coldSegmentBytes: 256 * KiB,
        diskBytes: 64 * MiB,
      },
      segdCacheSize: '4MiB',
      dataDir: path.join(dir, 'data'),
      outDir: path.join(dir, 'results'),
      install: false,
      log: (l) => lines.push(l),
    });
  }, 120_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('measures every scenario with requests and without errors', () => {
    const { report } = outcome;
    const log = lines.join('\n');
    const status = report.servers.find((s) => s.name === server);
    expect(status?.available, `${server} did not start: ${status?.reason}\n${log}`).toBe(true);
    expect(report.scenarios).toEqual([...SCENARIO_NAMES]);
    for (const scenario of SCENARIO_NAMES) {
      const r = report.results.find((x) => x.server === server && x.scenario === scenario);
      expect(r, `no result for ${scenario}\n${log}`).toBeDefined();
      if (scenario === 'disk' && noCgroup) {
        expect(r!.skipped).toBe(noCgroup);
        process.stderr.write(`bench.test: the disk scenario was skipped: ${noCgroup}\n`);
        continue;
      }
      expect(r!.skipped, `${scenario}: ${r!.preflight}\n${log}`).toBeNull();
      expect(r!.requests, `${scenario} made no request\n${log}`).toBeGreaterThan(0);
      expect(r!.errors, `${scenario} errors\n${log}`).toBe(0);
      expect(r!.unexpectedStatus, `${scenario} unexpected statuses ${JSON.stringify(r!.statusCounts)}\n${log}`).toBe(0);
      expect(r!.p99Ms).toBeGreaterThan(0);
      expect(r!.peakRssBytes).toBeGreaterThan(0);
    }
    // autocannon drives the request-rate scenarios here (no --wrk-rates) and counts statuses
    const revalidate = report.results.find((x) => x.scenario === 'revalidate')!;
    expect(revalidate.generator).toBe('autocannon');
    expect(Object.keys(revalidate.statusCounts!)).toEqual(['304']);
  });

  it.skipIf(server !== 'segd')('reads segd\'s GC time from its /metrics, and every server\'s CPU per GB', () => {
    const { report } = outcome;
    for (const r of report.results) {
      expect(r.gcShare).toBeGreaterThanOrEqual(0);
      expect(r.gcShare).toBeLessThan(1);
    }
    expect(formatTable(report)).toContain('CPU s/GB');
  });

  it.skipIf(noCgroup !== null)('runs the disk scenario in a memory cgroup a quarter of its library, and says how much the group held', () => {
    const r = outcome.report.results.find((x) => x.scenario === 'disk')!;
    expect(r.memoryLimitBytes).toBe(16 * MiB);
    // The group was really used: it held something, and never more than its limit.
    expect(r.memoryPeakBytes).toBeGreaterThan(0);
    expect(r.memoryPeakBytes).toBeLessThanOrEqual(r.memoryLimitBytes);
    expect(formatTable(outcome.report)).toContain('memory 16 MiB, peak');
    // ...and was removed afterwards.
    const left = ['/sys/fs/cgroup/memory', '/sys/fs/cgroup'].filter((d) => existsSync(d)).flatMap((d) => readdirSync(d).filter((n) => n.startsWith('segd-bench-')));
    expect(left).toEqual([]);
  });

  it('leaves no server process or port behind', async () => {
    const status = outcome.report.servers.find((s) => s.name === server)!;
    expect(status.pid).toBeGreaterThan(0);
    expect(groupAlive(status.pid!)).toBe(false);
    expect(await portClosed(status.port!)).toBe(true);
    expect(liveGroups()).toEqual([]);
  });

  it('renders the table, markdown, chart and writes them', () => {
    const { report, files } = outcome;
    const table = formatTable(report);
    for (const s of SCENARIO_NAMES) expect(table).toContain(s);
    expect(toMarkdown(report)).toContain(`| ${SCENARIO_NAMES[0]} | ${server} |`);
    expect(toSvg(report)).toMatch(/^<svg[\s\S]*<\/svg>\n$/);
    expect(files.map((f) => path.basename(f))).toEqual(expect.arrayContaining(['latest.json', 'latest.md', 'latest.svg']));
    for (const f of files) expect(existsSync(f)).toBe(true);
  });
});
