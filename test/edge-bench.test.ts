// Smoke test of the edge benchmark (not a timing): segd alone, every scenario with tiny objects
// and about a second of load, in-process. Needs the built CLI and wrk; never installs anything.
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runEdgeBench } from '../bench/edge.js';
import { wrkAvailable } from '../bench/generators/wrk.js';
import { liveGroups } from '../bench/procs.js';
import { SEGD_CLI } from '../bench/servers.js';
import type { EdgeReport } from '../bench/edge/report.js';

const KiB = 1024;
const runnable = existsSync(SEGD_CLI) && wrkAvailable();

describe.skipIf(!runnable)('edge bench harness (segd, tiny)', () => {
  let dir: string;
  let report: EdgeReport;
  let out: string | null;
  const lines: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'segd-edge-bench-test-'));
    const r = await runEdgeBench({
      quick: true,
      servers: ['segd'],
      segdTiers: ['memory'],
      herdClients: 10,
      herdBytes: 256 * KiB,
      herdTrials: 1,
      objectBytes: 64 * KiB,
      hitsObjects: 8,
      outageObjects: 4,
      outageSec: 0.5,
      origin: { delayMs: 20, paceMs: 40, chunkBytes: 16 * KiB },
      durationSec: 1,
      warmupSec: 0,
      connections: 4,
      outDir: dir,
      log: (l) => lines.push(l),
    });
    report = r.report;
    out = r.dir;
  }, 180_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('collapses the herd into one origin request and delivers every byte', () => {
    const rows = report.herd?.rows ?? [];
    expect(rows.map((r) => r.phase).sort(), lines.join('\n')).toEqual(['cold', 'warm']);
    for (const r of rows) {
      expect(r.skipped, lines.join('\n')).toBeNull();
      expect(r.trials[0]!.originRequests).toBe(1);
      expect(r.trials[0]!.intact).toBe(10);
    }
  });

  it('measures hits, a fill and an outage without errors', () => {
    const hits = report.hits![0]!;
    expect(hits.skipped, lines.join('\n')).toBeNull();
    expect(hits.requests).toBeGreaterThan(0);
    expect(hits.errors! + hits.non2xx!).toBe(0);
    expect(hits.originRequestsDuring).toBe(0);
    const fill = report.fill![0]!;
    expect(fill.skipped, lines.join('\n')).toBeNull();
    expect(fill.originMaxPerObject).toBe(1);
    expect(fill.originRequests).toBeGreaterThanOrEqual(fill.requests!);
    expect(fill.sample!.intact).toBe(fill.sample!.requests);
    const outage = report.outage![0]!;
    expect(outage.skipped, lines.join('\n')).toBeNull();
    for (const set of [outage.sets!.fresh, outage.sets!.stale]) expect(set.firstPass.intact).toBe(set.objects);
    expect(outage.uncached![0]!.status).toBeGreaterThanOrEqual(500);
  });

  it('writes the report and leaves no process behind', async () => {
    expect(out).not.toBeNull();
    expect((await readdir(out!)).sort()).toEqual(['chart.svg', 'report.json', 'report.md']);
    expect(liveGroups()).toEqual([]);
  });
});
