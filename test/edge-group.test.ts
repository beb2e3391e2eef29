/**
 * An edge on every core: `segd serve --origin URL --workers 2`, the primary the group's filler
 * (one origin fetch per object for the whole group, one disk cache, one quota) and the workers
 * answering what is fresh on the shared disk. Real processes on a real origin and directory.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFaultOrigin, type FaultOrigin } from './helpers/fault-origin.js';
import { serveCli } from './helpers/cli.js';
import { get, metric } from './helpers/http.js';
import { random } from './helpers/content.js';
import { eventually } from './helpers/wait.js';

let origin: FaultOrigin;
beforeAll(async () => {
  origin = await startFaultOrigin();
});
afterAll(() => origin?.stop());

/** A group of two workers on a fresh cache directory; `f` runs against it, then the group stops (and must exit 0). */
async function withGroup(args: readonly string[], f: (g: { base: string; cacheDir: string }) => Promise<void>): Promise<void> {
  const cacheDir = mkdtempSync(join(tmpdir(), 'segd-group-'));
  const run = await serveCli(['--origin', origin.url, '--cache-dir', cacheDir, '--workers', '2', '--port', '0', '--no-player', ...args]);
  let code;
  try {
    await f({ base: run.base, cacheDir });
  } finally {
    run.child.kill('SIGTERM');
    code = await run.exited;
    rmSync(cacheDir, { recursive: true, force: true });
  }
  expect(code, run.stderr()).toBe(0); // after the finally, so that it never hides the first failure
}

/** Per `worker` label, the sum of `name`'s samples (optionally only those whose labels contain `having`). */
async function perWorker(base: string, name: string, having = ''): Promise<Map<string, number>> {
  const text = (await get(base, '/metrics')).body.toString();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) || !line.includes(having)) continue;
    const w = /worker="([^"]+)"/.exec(line)?.[1];
    if (w !== undefined) out.set(w, (out.get(w) ?? 0) + Number(line.split(' ').pop()));
  }
  return out;
}

/** `n` requests for `path`, each a hit with `body` that a worker answered itself: the filler sees none of them. */
async function answeredByWorkers(base: string, path: string, body: Buffer, n = 10): Promise<void> {
  const filler = async (): Promise<number> => (await perWorker(base, 'segd_requests_total', 'kind="segment"')).get('filler') ?? 0;
  const before = await filler();
  for (let i = 0; i < n; i++) {
    const r = await get(base, path);
    expect(r.body.equals(body)).toBe(true);
    expect(r.headers['cache-status']).toBe('segd; hit');
  }
  expect(await filler()).toBe(before);
}

/** The object files in the cache directory. */
function cacheFiles(cacheDir: string): string[] {
  const data = join(cacheDir, 'data');
  return readdirSync(data).flatMap((d) => readdirSync(join(data, d)).map((f) => join(data, d, f)));
}

describe('an edge group (--origin with --workers 2)', () => {
  it('fetches an object once for all workers, streams it to every waiter, then answers hits from every worker', async () => {
    const body = random(2_000_000);
    origin.put('/g/once.ts', body, { chunk: 256 * 1024, chunkDelayMs: 40 });
    await withGroup([], async ({ base }) => {
      const replies = await Promise.all(Array.from({ length: 40 }, () => get(base, '/g/once.ts')));
      for (const r of replies) {
        expect(r.status).toBe(200);
        expect(r.body.equals(body)).toBe(true);
      }
      expect(origin.count('/g/once.ts')).toBe(1);
      const served = await perWorker(base, 'segd_requests_total', 'kind="segment"');
      expect([...served.keys()].filter((w) => w !== 'filler')).toHaveLength(2); // both workers took requests

      const later = await Promise.all(Array.from({ length: 20 }, () => get(base, '/g/once.ts')));
      for (const r of later) {
        expect(r.body.equals(body)).toBe(true);
        expect(r.headers['cache-status']).toBe('segd; hit');
      }
      expect(origin.count('/g/once.ts')).toBe(1);
      const hits = await perWorker(base, 'segd_cache_hits_total');
      expect([...hits].filter(([w, n]) => w !== 'filler' && n > 0)).toHaveLength(2); // each worker answered from the disk itself
      expect(await metric(base, 'segd_origin_requests_total')).toBe(1); // counted once, by the filler
    });
  });

  it('keeps the quota across the group, and the workers let go of what the filler evicts', async () => {
    const bodies = Array.from({ length: 10 }, () => random(200_000));
    bodies.forEach((b, i) => origin.put(`/g/q${i}.ts`, b));
    const quota = 1024 * 1024;
    await withGroup(['--cache-disk-size', '1MiB', '--max-object-size', '512KiB'], async ({ base, cacheDir }) => {
      for (let i = 0; i < bodies.length; i++) {
        // A miss, then hits until both workers have mapped or opened the file.
        expect((await get(base, `/g/q${i}.ts`)).body.equals(bodies[i]!)).toBe(true);
        for (let k = 0; k < 4; k++) expect((await get(base, `/g/q${i}.ts`)).body.equals(bodies[i]!)).toBe(true);
        const onDisk = cacheFiles(cacheDir).reduce((n, f) => n + Math.ceil(statSync(f).size / 4096) * 4096, 0);
        expect(onDisk).toBeLessThanOrEqual(quota);
      }
      expect(await metric(base, 'segd_disk_evictions_total')).toBeGreaterThanOrEqual(5);
      expect(await metric(base, 'segd_disk_bytes')).toBeLessThanOrEqual(quota);
      // A worker that kept an evicted object would hold its file's blocks on the disk past the quota.
      const kept = cacheFiles(cacheDir).length;
      for (const gauge of ['segd_cache_entries', 'segd_read_tier_files']) {
        await eventually(async () => [...(await perWorker(base, gauge))].every(([w, n]) => w === 'filler' || n <= kept), { what: `${gauge} of every worker at most ${kept}` });
      }
    });
  });

  it('drops an object a worker finds corrupt on the disk, though the filler holds a good copy, and fetches it again', async () => {
    const body = random(50_000); // small: the filler keeps it in memory once stored
    origin.put('/g/rot.ts', body);
    await withGroup([], async ({ base, cacheDir }) => {
      expect((await get(base, '/g/rot.ts')).body.equals(body)).toBe(true);
      const [file] = await eventually(() => (cacheFiles(cacheDir).length === 1 ? cacheFiles(cacheDir) : undefined), { what: 'the object on disk' });
      const fd = openSync(file!, 'r+');
      writeSync(fd, Buffer.from([body[1000]! ^ 0x01]), 0, 1, 1000);
      closeSync(fd);
      await eventually(
        async () => {
          const r = await get(base, '/g/rot.ts');
          expect(r.body.equals(body)).toBe(true); // never the rotten byte
          return origin.count('/g/rot.ts') === 2;
        },
        { what: 'the object fetched again' },
      );
      expect((await perWorker(base, 'segd_group_disk_reports_total', 'kind="dropped"')).get('filler')).toBeGreaterThanOrEqual(1);
    });
  });

  it('lets the workers answer hits again after the filler revalidates a stale object (a 304 is not written to the file)', async () => {
    const body = random(300_000);
    origin.put('/g/short.ts', body, { headers: { 'cache-control': 'max-age=1' } });
    await withGroup([], async ({ base }) => {
      expect((await get(base, '/g/short.ts')).body.equals(body)).toBe(true); // forwarded: no worker holds a copy yet
      await new Promise((r) => setTimeout(r, 2000)); // stale for sure (staleness only grows)
      origin.behave('/g/short.ts', { headers: { 'cache-control': 'max-age=60' } }); // what the 304 will say
      // One request: a worker loads the stale object, forwards, and the filler revalidates.
      expect((await get(base, '/g/short.ts')).headers['cache-status']).toContain('fwd-status=304');
      // Every worker now answers from the disk with the new headers: the one holding a copy
      // updates it, the other applies them to the copy it loads later.
      await answeredByWorkers(base, '/g/short.ts', body);
      expect(origin.count('/g/short.ts')).toBe(2); // the fetch and the revalidation
    });
  });

  it('answers a new version from the workers once the filler has fetched it (their stale copies are of an older file)', async () => {
    const v1 = random(300_000);
    const v2 = random(300_000);
    origin.put('/g/new.ts', v1, { headers: { 'cache-control': 'max-age=2' } });
    await withGroup([], async ({ base }) => {
      expect((await get(base, '/g/new.ts')).body.equals(v1)).toBe(true);
      await eventually(async () => (await get(base, '/g/new.ts')).headers['cache-status'] === 'segd; hit', { what: 'a hit' });
      origin.put('/g/new.ts', v2, { headers: { 'cache-control': 'max-age=3' } });
      await eventually(async () => (await get(base, '/g/new.ts')).body.equals(v2), { what: 'the new version', timeoutMs: 15_000 });
      await eventually(async () => (await get(base, '/g/new.ts')).headers['cache-status'] === 'segd; hit', { what: 'a hit on the new version' });
      await answeredByWorkers(base, '/g/new.ts', v2);
    });
  });

  it("counts the workers' hits in the filler's eviction policy: an object hit often outlives newer ones that were not", async () => {
    const hot = random(200_000);
    const cold = Array.from({ length: 6 }, () => random(200_000));
    origin.put('/g/hot.ts', hot);
    cold.forEach((b, i) => origin.put(`/g/cold${i}.ts`, b));
    await withGroup(['--cache-disk-size', '1MiB', '--max-object-size', '512KiB'], async ({ base }) => {
      for (let i = 0; i < 5; i++) expect((await get(base, '/g/hot.ts')).body.equals(hot)).toBe(true);
      // Two hits reported (of the four, by one worker or both): enough for S3-FIFO to keep it.
      await eventually(async () => ((await perWorker(base, 'segd_group_disk_reports_total', 'kind="touched"')).get('filler') ?? 0) >= 2, { what: 'the hits reported' });
      for (let i = 0; i < cold.length; i++) expect((await get(base, `/g/cold${i}.ts`)).body.equals(cold[i]!)).toBe(true);
      expect(await metric(base, 'segd_disk_evictions_total')).toBeGreaterThanOrEqual(2);
      expect((await get(base, '/g/hot.ts')).body.equals(hot)).toBe(true);
      expect(origin.count('/g/hot.ts')).toBe(1); // still on disk: the cold ones went first
    });
  });

  it('keeps the filler\'s settings across a reload, and says that they wait for a restart', async () => {
    const body = random(100_000);
    origin.put('/g/reload.ts', body);
    const cacheDir = mkdtempSync(join(tmpdir(), 'segd-group-'));
    const conf = join(cacheDir, '..', `${cacheDir.split('/').pop()}.json`);
    const config = { origin: origin.url, cacheDir, workers: 2, port: 0, player: false };
    writeFileSync(conf, JSON.stringify(config));
    const run = await serveCli(['--config', conf]);
    let code;
    try {
      writeFileSync(conf, JSON.stringify({ ...config, origin: 'http://127.0.0.1:1/', cacheDir: join(cacheDir, 'elsewhere') }));
      run.child.kill('SIGHUP');
      await eventually(() => run.stderr().includes('reloaded'), { what: 'the reload' });
      expect(run.stderr()).toMatch(/"keys":"origin,cacheDir","msg":"reload: the origin and disk cache settings take effect at the next restart"/);
      const r = await get(run.base, '/g/reload.ts');
      expect(r.body.equals(body)).toBe(true); // from the origin the group started with
      // The new workers read the filler's disk: they answer the hits themselves.
      await answeredByWorkers(run.base, '/g/reload.ts', body, 4);
    } finally {
      run.child.kill('SIGTERM');
      code = await run.exited;
      rmSync(cacheDir, { recursive: true, force: true });
      rmSync(conf, { force: true });
    }
    expect(code, run.stderr()).toBe(0);
  });
});
