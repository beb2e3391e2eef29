/**
 * Every core: `segd serve --workers N`, a primary and N workers on one port. Real processes, real
 * signals: a dead worker is replaced, /metrics shows the group, SIGHUP rolls the workers over to
 * a new configuration without a failed or truncated response, SIGTERM drains the group.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { Agent, request } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, type CliRun } from './helpers/cli.js';
import { get, metric } from './helpers/http.js';
import { eventually } from './helpers/wait.js';
import { random, tempTree, vodPlaylist, type TempTree } from './helpers/content.js';

let tree: TempTree;
const seg = random(300_000);
let conf: string;

beforeAll(() => {
  tree = tempTree();
  tree.write('www/vod/seg.m4s', seg);
  tree.write('www/vod/main.m3u8', vodPlaylist(['seg.m4s']));
  conf = join(tree.dir, 'segd.json');
});
afterAll(() => tree?.remove());

async function group(config: Record<string, unknown>, args: string[] = []): Promise<{ run: CliRun; base: string }> {
  writeFileSync(conf, JSON.stringify({ dir: join(tree.dir, 'www'), port: 0, player: false, workers: 2, ...config }));
  const run = cli(['serve', '--config', conf, ...args], { until: /with \d+ workers/ });
  const out = await run.ready;
  const base = /"url":"(http:[^"]+)"/.exec(out)?.[1];
  if (base === undefined) throw new Error(`no URL in: ${out}`);
  return { run, base };
}

/** The worker labels in /metrics right now. */
async function workerIds(base: string): Promise<string[]> {
  const text = (await get(base, '/metrics')).body.toString();
  return [...new Set([...text.matchAll(/^segd_connections\{worker="(\d+)"\}/gm)].map((m) => m[1]!))].sort();
}

describe('segd serve --workers', () => {
  it('serves from every worker, shows the group in /metrics, and replaces a worker that dies', async () => {
    const { run, base } = await group({});
    try {
      expect(await workerIds(base)).toHaveLength(2);
      for (let i = 0; i < 20; i++) expect((await get(base, '/vod/seg.m4s')).body.equals(seg)).toBe(true);
      expect(await metric(base, 'segd_requests_total')).toBeGreaterThanOrEqual(20); // summed over the workers
      expect(await metric(base, 'segd_workers')).toBe(2);

      // Kill one worker: it is replaced, and the group keeps answering meanwhile.
      const before = await workerIds(base);
      const workers = execFileSync('pgrep', ['-P', String(run.child.pid), '-f', 'cli/main']).toString().trim().split('\n'); // (not tsx's esbuild)
      expect(workers).toHaveLength(2);
      process.kill(Number(workers[0]), 'SIGKILL');
      // Once the primary has seen the death, the other worker takes every connection. (One
      // accepted in the very instant of the crash is lost with the worker: node:cluster's
      // round-robin hands it over and never hears back.)
      await eventually(() => run.stderr().includes('a worker died; starting another'), { what: 'the death noticed' });
      for (let i = 0; i < 10; i++) expect((await get(base, '/vod/seg.m4s')).status).toBe(200);
      await eventually(async () => (await metric(base, 'segd_worker_restarts_total')) === 1 && (await workerIds(base)).length === 2, { timeoutMs: 15_000, what: 'the worker replaced' });
      expect(await workerIds(base)).not.toEqual(before);
      expect(run.stderr()).toContain('a worker died; starting another');
    } finally {
      run.child.kill('SIGTERM');
      await run.exited;
    }
  });

  it('rolls over to a new configuration on SIGHUP three times under keep-alive load: no failed or truncated response', async () => {
    const { run, base } = await group({ corsOrigin: 'https://one.example' });
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    const url = new URL(base);
    let failed = 0;
    let truncated = 0;
    let ok = 0;
    let freshRetries = 0;
    let origins = new Set<string>();
    /**
     * One GET on the keep-alive pool. A request whose connection closed before any answer is
     * sent again on a new connection (twice at most), as HTTP/1.1 lets a client do for an
     * idempotent request (RFC 9112 §9.3.1) and as players do. On a reused connection that is the
     * expected race with a drain closing it idle; on a fresh one it happens, rarely and only on a
     * starved machine, to a connection handed to a worker in the instant it exits (counted and
     * bounded below).
     */
    const once = (path: string, tries = 0): Promise<void> =>
      new Promise((resolve) => {
        const req = request({ host: url.hostname, port: url.port, path, agent, headers: { origin: 'https://one.example' } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const body = Buffer.concat(chunks);
            if (res.statusCode !== 200) failed++;
            else if (path.endsWith('.m4s') && !body.equals(seg)) truncated++;
            else ok++;
            const o = res.headers['access-control-allow-origin'];
            if (typeof o === 'string') origins.add(o);
            resolve();
          });
          res.on('error', () => {
            truncated++;
            resolve();
          });
        });
        req.setTimeout(10_000, () => req.destroy(new Error('no answer in 10 s')));
        req.on('error', (e) => {
          if (!req.reusedSocket) freshRetries++;
          if (tries < 2) return void once(path, tries + 1).then(resolve);
          console.error(`failed three times: ${(e as Error).message}`);
          failed++;
          resolve();
        });
        req.end();
      });
    let running = true;
    const clients = Array.from({ length: 6 }, async (_, i) => {
      while (running) await once(i % 3 === 0 ? '/vod/main.m3u8' : '/vod/seg.m4s');
    });
    try {
      for (let reload = 1; reload <= 3; reload++) {
        const next = `https://${['one', 'two', 'three', 'four'][reload]}.example`;
        writeFileSync(conf, JSON.stringify({ dir: join(tree.dir, 'www'), port: 0, player: false, workers: 2, corsOrigin: [next, 'https://one.example'] }));
        const seen = run.stderr().split('reloaded: new workers serve').length;
        run.child.kill('SIGHUP');
        await eventually(() => run.stderr().split('reloaded: new workers serve').length > seen, { timeoutMs: 20_000, what: `reload ${reload}` });
        await new Promise((r) => setTimeout(r, 300)); // load on the new generation while the old one drains
      }
      origins = new Set();
      await eventually(() => origins.size > 0, { what: 'answers after the last reload' });
    } finally {
      running = false;
      await Promise.all(clients);
      agent.destroy();
    }
    if (failed > 0) console.error(run.stderr()); // the reloads and drains, to place the failures
    expect({ failed, truncated }).toEqual({ failed: 0, truncated: 0 });
    expect(ok).toBeGreaterThan(100);
    expect(freshRetries, 'new connections closed unanswered').toBeLessThanOrEqual(Math.ceil(ok / 200));
    // The new configuration is in force: the allowed origins now list the fourth one.
    const r = await get(base, '/vod/seg.m4s', { origin: 'https://four.example' });
    expect(r.headers['access-control-allow-origin']).toBe('https://four.example');
    run.child.kill('SIGTERM');
    expect(await run.exited, run.stderr()).toBe(0);
  }, 90_000);

  it('a reload with a configuration that does not hold keeps the workers serving, and SIGTERM drains the group', async () => {
    const { run, base } = await group({});
    try {
      writeFileSync(conf, JSON.stringify({ dir: join(tree.dir, 'www'), port: 'not a port', workers: 2 }));
      run.child.kill('SIGHUP');
      await eventually(() => run.stderr().includes('reload refused'), { what: 'the refusal logged' });
      expect(run.stderr()).toMatch(/segd\.json: port: expected a whole number/);
      expect((await get(base, '/vod/seg.m4s')).body.equals(seg)).toBe(true);
    } finally {
      run.child.kill('SIGTERM');
    }
    expect(await run.exited, run.stderr()).toBe(0);
  });

});
