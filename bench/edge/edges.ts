// The processes of the edge bench: the origin (origin.ts, pinned with the load generator), and the
// edges in front of it, each pinned to the server CPU in its own process group with a cache in a
// fresh temp dir that is removed when it stops: segd --origin, nginx proxy_cache, Varnish, and
// for hits only, bare-edge.ts (node:http from Buffers: Node's ceiling).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { REPO_DIR } from '../options.js';
import { freePort, releaseTempDir, spawnGroup, stopGroup, trackTempDir, which, type GroupChild } from '../procs.js';
import { launchNginx, nginxConf, nginxUnavailable, nodeScript, readyOrStopped, running, type RunningServer } from '../servers.js';
import { getText } from './client.js';
import type { OriginStats } from './objects.js';

export const EDGE_NAMES = ['segd', 'nginx', 'varnish', 'bare'] as const;
export type EdgeName = (typeof EDGE_NAMES)[number];

/** Answered 200 and never stored by the origin: readiness through an edge. */
const PROBE = '/__probe';

export interface EdgeSettings {
  /** segd's CLI (dist/src/cli/main.js; a .ts file runs through tsx). */
  segdCli: string;
  /** segd --cache-size (its memory tier). */
  segdCacheSize: string;
  /** segd --cache-disk-size and nginx max_size, in bytes. */
  diskBytes: number;
  /** Varnish -s malloc size. */
  varnishMalloc: string;
  cpu: number | null;
}

export interface RunningEdge extends RunningServer<EdgeName> {
  /** What the tables call it, e.g. "segd (disk tier)". */
  label: string;
  /** The response header that says how the cache answered. */
  cacheHeader: string;
  /** The command line and configuration it runs with, verbatim. */
  config: string;
  /** Objects in its cache now. */
  cachedObjects(): Promise<number>;
}

export function edgeUnavailable(name: EdgeName, s: EdgeSettings): string | null {
  switch (name) {
    case 'segd':
      return existsSync(s.segdCli) ? null : `${path.relative(REPO_DIR, s.segdCli)} not built (npm run build)`;
    case 'nginx':
      return nginxUnavailable();
    case 'varnish':
      return which('varnishd') ? null : 'varnishd not installed (apt-get install varnish)';
    case 'bare':
      return null;
  }
}

// ---- the origin ------------------------------------------------------------------------------

export interface OriginTiming {
  delayMs: number;
  paceMs: number;
  chunkBytes: number;
}

export interface RunningOrigin {
  port: number;
  proc: GroupChild;
  stats(prefix: string): Promise<OriginStats>;
  stop(): Promise<void>;
}

export async function startOrigin(t: OriginTiming, o: { seed: string; poolBytes: number; cpu: number | null }): Promise<RunningOrigin> {
  const port = await freePort();
  const argv = [...nodeScript('edge/origin'), '--port', String(port), '--seed', o.seed, '--pool-bytes', String(o.poolBytes)];
  argv.push('--delay-ms', String(t.delayMs), '--pace-ms', String(t.paceMs), '--chunk-bytes', String(t.chunkBytes));
  const proc = spawnGroup(argv, { cpu: o.cpu, cwd: REPO_DIR });
  await readyOrStopped(proc, port, PROBE, 30_000, 'origin');
  return {
    port,
    proc,
    stats: async (prefix) => JSON.parse(await getText(port, `/__stats?prefix=${encodeURIComponent(prefix)}`)) as OriginStats,
    stop: async () => void (await stopGroup(proc, 3000)),
  };
}

// ---- the edges -------------------------------------------------------------------------------

async function tempDir(kind: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = trackTempDir(await mkdtemp(path.join(os.tmpdir(), `segd-bench-${kind}-`)));
  return {
    dir,
    remove: async () => {
      await rm(dir, { recursive: true, force: true });
      releaseTempDir(dir);
    },
  };
}

/** Files under `dir`, recursively (nginx's cache levels). */
async function countFiles(dir: string): Promise<number> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).length;
}

/** segd's /metrics as name{labels} → value. */
export async function segdMetrics(port: number): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await getText(port, '/metrics')).split('\n')) {
    const m = /^(segd_[a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

/** What each metric matching `pattern` (its first group names it) grew by between two readings. */
export function segdMetricsDelta(before: Map<string, number>, after: Map<string, number>, pattern: RegExp): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of after) {
    const m = pattern.exec(k);
    if (m) out[m[1]!] = v - (before.get(k) ?? 0);
  }
  return out;
}

async function startSegd(port: number, originPort: number, s: EdgeSettings, label: string): Promise<RunningEdge> {
  const cache = await tempDir('segd-edge');
  const node = s.segdCli.endsWith('.ts') ? [process.execPath, '--import', 'tsx', s.segdCli] : [process.execPath, s.segdCli];
  const args = ['serve', '--origin', `http://127.0.0.1:${originPort}/`, '--cache-dir', cache.dir, '--cache-disk-size', String(s.diskBytes)];
  // One process, like the one nginx worker and the one Varnish child on the same pinned core
  // (a group's filler and workers would only take turns on it).
  args.push('--cache-size', s.segdCacheSize, '--host', '127.0.0.1', '--port', String(port), '--no-player', '--workers', '1');
  const proc = spawnGroup([...node, ...args], { cpu: s.cpu, cwd: REPO_DIR });
  await readyOrStopped(proc, port, PROBE, 30_000, 'segd', { cleanup: cache.remove });
  return {
    ...running('segd', port, proc, [], cache.remove),
    label,
    cacheHeader: 'cache-status',
    config: `segd ${args.join(' ')}`,
    cachedObjects: async () => (await segdMetrics(port)).get('segd_disk_objects') ?? NaN,
  };
}

/** The http block of nginx's proxy_cache configuration (documented verbatim in bench/README.md). */
export function nginxProxyHttp(prefix: string, port: number, originPort: number, maxSizeBytes: number): string {
  return `  proxy_cache_path ${prefix}/cache levels=1:2 keys_zone=edge:64m max_size=${Math.floor(maxSizeBytes / 2 ** 20)}m inactive=365d use_temp_path=off;
  upstream origin {
    server 127.0.0.1:${originPort};
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering on;
      proxy_buffer_size 64k;
      proxy_buffers 16 64k;
      proxy_busy_buffers_size 128k;
      proxy_cache edge;
      proxy_cache_lock on;
      proxy_cache_revalidate on;
      proxy_cache_use_stale error timeout http_500 http_502 http_503 http_504 updating;
      proxy_cache_valid 200 1y;
      add_header X-Cache-Status $upstream_cache_status always;
    }
  }
`;
}

async function startNginxProxy(port: number, originPort: number, s: EdgeSettings): Promise<RunningEdge> {
  let config = '';
  const n = await launchNginx('nginx', port, PROBE, s.cpu, (prefix) => (config = nginxConf(prefix, nginxProxyHttp(prefix, port, originPort, s.diskBytes))));
  return {
    ...n,
    label: 'nginx',
    cacheHeader: 'x-cache-status',
    config,
    cachedObjects: () => countFiles(path.join(n.prefix, 'cache')),
  };
}

/** Varnish's VCL (documented verbatim in bench/README.md). */
export function varnishVcl(originPort: number): string {
  return `vcl 4.1;

backend origin {
  .host = "127.0.0.1";
  .port = "${originPort}";
}

sub vcl_recv {
  # The bench's readiness probe: passed, so it leaves no hit-for-miss object behind.
  if (req.url == "/__probe") {
    return (pass);
  }
}

sub vcl_backend_response {
  set beresp.do_stream = true;
  set beresp.grace = 1d;
}

sub vcl_deliver {
  if (obj.hits > 0) {
    if (obj.ttl <= 0s) {
      set resp.http.X-Cache = "hit-stale";
    } else {
      set resp.http.X-Cache = "hit";
    }
  } else {
    set resp.http.X-Cache = "miss";
  }
}
`;
}

/** varnishstat counters of the instance in `workdir`, e.g. MAIN.n_object. */
export function varnishCounter(workdir: string, name: string): number {
  const r = spawnSync(which('varnishstat') ?? 'varnishstat', ['-n', workdir, '-1', '-f', name], { encoding: 'utf8', timeout: 10_000 });
  const m = new RegExp(`^${name.replace('.', '\\.')}\\s+(\\d+)`, 'm').exec(r.stdout ?? '');
  return m ? Number(m[1]) : NaN;
}

async function startVarnish(port: number, originPort: number, s: EdgeSettings): Promise<RunningEdge> {
  const tmp = await tempDir('varnish');
  const vcl = path.join(tmp.dir, 'edge.vcl');
  const workdir = path.join(tmp.dir, 'varnish');
  await writeFile(vcl, varnishVcl(originPort));
  // -j none: the default unix jail drops to the varnish user, which cannot read a root-only
  // mkdtemp dir; without root there is no jail to switch to anyway.
  const args = ['-F', '-j', 'none', '-a', `127.0.0.1:${port}`, '-f', vcl, '-s', `malloc,${s.varnishMalloc}`, '-n', workdir];
  const proc = spawnGroup([which('varnishd')!, ...args], { cpu: s.cpu });
  await readyOrStopped(proc, port, PROBE, 60_000, 'varnish', { cleanup: tmp.remove });
  return {
    ...running('varnish', port, proc, [], tmp.remove),
    label: 'varnish',
    cacheHeader: 'x-cache',
    config: `varnishd ${args.join(' ')}\n\n${varnishVcl(originPort)}`,
    cachedObjects: async () => varnishCounter(workdir, 'MAIN.n_object'),
  };
}

async function startBare(port: number, originPort: number, s: EdgeSettings): Promise<RunningEdge> {
  const args = ['--port', String(port), '--origin-port', String(originPort)];
  const proc = spawnGroup([...nodeScript('edge/bare-edge'), ...args], { cpu: s.cpu, cwd: REPO_DIR });
  await readyOrStopped(proc, port, PROBE, 30_000, 'bare');
  return {
    ...running('bare', port, proc, []),
    label: 'bare node:http (hits only)',
    cacheHeader: 'x-cache',
    config: `bench/edge/bare-edge.ts ${args.join(' ')}`,
    cachedObjects: async () => Number(await getText(port, '/__objects')),
  };
}

export async function startEdge(name: EdgeName, originPort: number, s: EdgeSettings, label: string = name): Promise<RunningEdge> {
  const port = await freePort();
  switch (name) {
    case 'segd':
      return startSegd(port, originPort, s, label);
    case 'nginx':
      return startNginxProxy(port, originPort, s);
    case 'varnish':
      return startVarnish(port, originPort, s);
    case 'bare':
      return startBare(port, originPort, s);
  }
}
