// The servers under test: how each one is started (pinned to CPU 0, in its own process
// group), probed until it serves, and stopped.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type { Content } from './content.js';
import { MODULE_DIR, REPO_DIR, type BenchOptions, type ServerName } from './options.js';
import { freePort, portClosed, releaseTempDir, spawnGroup, stopGroup, trackTempDir, which, type GroupChild } from './procs.js';

export const SERVER_CPU = 0;
/** How long a server may take to exit after SIGTERM before its group gets SIGKILL. */
export const STOP_GRACE_MS = 5000;
export const GENERATOR_CPU = 1;

export interface RunningServer<N extends string = ServerName> {
  name: N;
  port: number;
  /** Leader pid, also the process-group id. */
  pid: number;
  baseUrl: string;
  notes: string[];
  proc: GroupChild;
  /** Stops the server; says how it went ("exited in 120 ms after SIGTERM" or "killed"). */
  stop: () => Promise<string>;
}

/**
 * Runs `body` against a started server and stops the server after it, whatever happens; notes an
 * exit during the run, or a stop that had to kill, on `notes`.
 */
export async function withServer(server: RunningServer<string>, notes: string[], log: (line: string) => void, body: () => Promise<void>): Promise<void> {
  try {
    await body();
    if (server.proc.hasExited()) notes.push(`exited during the run: ${server.proc.stderr().trim().slice(-300)}`);
  } finally {
    const how = await server.stop();
    log(`${server.name}: ${how}`);
    if (how.includes('killed')) notes.push(how);
  }
}

export interface ServerContext {
  opts: BenchOptions;
  content: Content;
  /** More segd flags, after the ones the bench passes (the soak adds --no-player). */
  segdArgs?: readonly string[];
}

interface ServerDef {
  /** Null when the server can run here, else why not. */
  unavailable: (ctx: ServerContext) => string | null;
  start: (ctx: ServerContext, port: number) => Promise<RunningServer>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The built segd CLI, the default of --segd-cli. */
export const SEGD_CLI = path.join(REPO_DIR, 'dist', 'src', 'cli', 'main.js');

/** GET urlPath's status (0: no answer); over HTTPS verified against `ca` when given. */
function probe(port: number, urlPath: string, ca?: Buffer): Promise<number> {
  return new Promise((resolve) => {
    const get = ca === undefined ? http.get : https.get;
    const req = get({ host: '127.0.0.1', port, path: urlPath, ca, agent: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

/** Waits until GET urlPath answers 200 (over HTTPS, verified against `ca`, when given), failing early if the process exits. */
export async function waitReady(proc: GroupChild, port: number, urlPath: string, timeoutMs: number, what: string, ca?: Buffer): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 0;
  while (Date.now() < deadline) {
    if (proc.hasExited()) {
      const code = await proc.exited;
      throw new Error(`${what} exited (${code}) before serving: ${(proc.stderr() || proc.stdout()).trim().slice(-800)}`);
    }
    last = await probe(port, urlPath, ca);
    if (last === 200) return;
    await sleep(last === 0 ? 100 : 250);
  }
  throw new Error(`${what} not serving ${urlPath} on port ${port} after ${timeoutMs} ms (last status ${last})`);
}

/** waitReady, and if the server never serves, its group stopped (and `cleanup` run) before the error goes on. */
export async function readyOrStopped(proc: GroupChild, port: number, urlPath: string, timeoutMs: number, what: string, o: { ca?: Buffer; cleanup?: () => Promise<void> } = {}): Promise<void> {
  try {
    await waitReady(proc, port, urlPath, timeoutMs, what, o.ca);
  } catch (e) {
    await stopGroup(proc);
    await o.cleanup?.();
    throw e;
  }
}

/** A started server: `stop()` stops its group (and extraPids), waits for the port to close, then runs cleanup. */
export function running<N extends string>(name: N, port: number, proc: GroupChild, notes: string[], cleanup?: () => Promise<void>, extraPids?: () => Promise<number[]>): RunningServer<N> {
  return {
    name,
    port,
    pid: proc.pid,
    baseUrl: `http://127.0.0.1:${port}`,
    notes,
    proc,
    stop: async () => {
      const t0 = Date.now();
      const killed = await stopGroup(proc, STOP_GRACE_MS, extraPids ? await extraPids() : []);
      const ms = Date.now() - t0;
      for (let i = 0; i < 40 && !(await portClosed(port)); i++) await sleep(50);
      await cleanup?.();
      const code = proc.hasExited() ? await proc.exited : 'still running';
      return killed
        ? `did not exit within ${STOP_GRACE_MS} ms of SIGTERM: killed`
        : `exited (${code}) ${ms} ms after SIGTERM`;
    },
  };
}

/** A TypeScript script under bench/ (e.g. `servers/bare`): compiled .js when running from dist, else via tsx. */
export function nodeScript(rel: string): string[] {
  const js = path.join(MODULE_DIR, `${rel}.js`);
  if (existsSync(js)) return [process.execPath, js];
  return [process.execPath, '--import', 'tsx', path.join(MODULE_DIR, `${rel}.ts`)];
}

const cpu = (ctx: ServerContext): number | null => (ctx.opts.pin ? SERVER_CPU : null);

function nodeServer(name: ServerName, readyTimeoutMs: number): ServerDef {
  return {
    unavailable: () => null,
    start: async (ctx, port) => {
      const proc = spawnGroup([...nodeScript(`servers/${name}`), ctx.content.dir, String(port)], { cpu: cpu(ctx), cwd: REPO_DIR });
      await readyOrStopped(proc, port, ctx.content.playlistPath, readyTimeoutMs, name);
      return running(name, port, proc, []);
    },
  };
}

const segd: ServerDef = {
  unavailable: ({ opts }) =>
    existsSync(opts.segdCli) ? null : `${path.relative(REPO_DIR, opts.segdCli)} not built (npm run build)`,
  start: async (ctx, port) => {
    const cli = ctx.opts.segdCli;
    const node = cli.endsWith('.ts') ? [process.execPath, '--import', 'tsx', cli] : [process.execPath, cli];
    const base = [...node, 'serve', ctx.content.dir, '--host', '127.0.0.1', '--port', String(port), ...(ctx.segdArgs ?? [])];
    const attempt = async (args: string[]): Promise<GroupChild> => {
      const proc = spawnGroup(args, { cpu: cpu(ctx), cwd: REPO_DIR });
      await readyOrStopped(proc, port, ctx.content.playlistPath, 30_000, 'segd');
      return proc;
    };
    const notes: string[] = [];
    let proc: GroupChild;
    try {
      proc = await attempt([...base, '--cache-size', ctx.opts.segdCacheSize]);
      notes.push(`--cache-size ${ctx.opts.segdCacheSize}`);
    } catch (e) {
      const msg = String((e as Error).message);
      if (!/cache-size|unknown option/i.test(msg)) throw e;
      proc = await attempt(base);
      notes.push('segd rejected --cache-size; ran with its default cache');
    }
    return running('segd', port, proc, notes);
  },
};

/**
 * An nginx.conf with one worker, its pid, logs and temp paths in `prefix`, no access log, and
 * long-lived keep-alive connections; `http` is the rest of the http block (server blocks...).
 */
export function nginxConf(prefix: string, http: string, workers = 1): string {
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  return `# generated by the segd bench (bench/servers.ts)
${asRoot ? 'user root;' : ''}
worker_processes ${workers};
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events {
  worker_connections 4096;
}
http {
  types {
    application/vnd.apple.mpegurl m3u8;
    video/iso.segment m4s;
    video/mp4 mp4;
  }
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 65s;
  keepalive_requests 1000000;
  access_log off;
  client_body_temp_path ${prefix}/tmp/body;
  proxy_temp_path ${prefix}/tmp/proxy;
  fastcgi_temp_path ${prefix}/tmp/fastcgi;
  uwsgi_temp_path ${prefix}/tmp/uwsgi;
  scgi_temp_path ${prefix}/tmp/scgi;
${http.trimEnd()}
}
`;
}

/** nginx's static server; `aio threads` offloads reads that would block to a thread pool (its best setting for disk-bound work here). */
function staticHttp(root: string, port: number, aio = false): string {
  return `  open_file_cache max=10000 inactive=60s;
  open_file_cache_valid 1s;${aio ? '\n  aio threads;' : ''}
  server {
    listen 127.0.0.1:${port};
    root ${root};
    location / { }
  }
`;
}

export const nginxUnavailable = (): string | null => (which('nginx') ? null : 'nginx not installed (apt-get install nginx-light)');

/**
 * Starts nginx in a new temp prefix (removed when it stops) with the config `conf(prefix)`
 * returns, and waits until `ready` resolves: by default, until GET readyPath answers 200.
 */
export async function launchNginx<N extends string>(
  name: N,
  port: number,
  readyPath: string,
  cpu: number | null,
  conf: (prefix: string) => string,
  ready: (proc: GroupChild) => Promise<void> = (proc) => waitReady(proc, port, readyPath, 15_000, name),
): Promise<RunningServer<N> & { prefix: string }> {
  const prefix = trackTempDir(await mkdtemp(path.join(os.tmpdir(), 'segd-bench-nginx-')));
  await mkdir(path.join(prefix, 'tmp'), { recursive: true });
  const confFile = path.join(prefix, 'nginx.conf');
  await writeFile(confFile, conf(prefix));
  const pidOf = async (): Promise<number[]> => {
    const n = Number((await readFile(path.join(prefix, 'nginx.pid'), 'utf8').catch(() => '')).trim());
    return n > 0 ? [n] : [];
  };
  const cleanup = async (): Promise<void> => {
    await rm(prefix, { recursive: true, force: true });
    releaseTempDir(prefix);
  };
  const proc = spawnGroup([which('nginx')!, '-p', prefix, '-e', `${prefix}/error.log`, '-c', confFile, '-g', 'daemon off;'], { cpu });
  try {
    await ready(proc);
  } catch (e) {
    const log = await readFile(path.join(prefix, 'error.log'), 'utf8').catch(() => '');
    await stopGroup(proc, 5000, await pidOf());
    await cleanup();
    throw new Error(`${(e as Error).message}${log ? `\n${log.trim().slice(-800)}` : ''}`);
  }
  return { ...running(name, port, proc, [], cleanup, pidOf), prefix };
}

const nginxServer = (name: 'nginx' | 'nginx-aio', aio: boolean): ServerDef => ({
  unavailable: nginxUnavailable,
  start: (ctx, port) => launchNginx(name, port, ctx.content.playlistPath, cpu(ctx), (prefix) => nginxConf(prefix, staticHttp(ctx.content.dir, port, aio))),
});

export const SERVERS: Record<ServerName, ServerDef> = {
  segd,
  nginx: nginxServer('nginx', false),
  'nginx-aio': nginxServer('nginx-aio', true),
  'fastify-static': nodeServer('fastify-static', 15_000),
  'serve-static': nodeServer('serve-static', 15_000),
  // Pre-loads the whole content (up to ~1.2 GiB) before listening.
  bare: nodeServer('bare', 120_000),
  'bare-pread': nodeServer('bare-pread', 15_000),
};

export function serverUnavailable(name: ServerName, ctx: ServerContext): string | null {
  return SERVERS[name].unavailable(ctx);
}

export async function startServer(name: ServerName, ctx: ServerContext): Promise<RunningServer> {
  const port = await freePort();
  return SERVERS[name].start(ctx, port);
}
