// segd and nginx serving the bench content over HTTPS (HTTP/2 and HTTP/1.1 on one port) with
// the same certificate and the same TLS settings, each pinned to CPU 0 in its own process group;
// and bare Node answering from memory (bare.ts): node-h2, node:http2, the HTTP/2 scenarios'
// ceiling; node-h2-fields, the same sending the header fields segd sends: node:http2's cost of
// segd's answer; node-https, node:https, the HTTPS/1.1 scenarios' (ranges aside).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { TLS_PROTOCOL } from '../../src/server/tls.js';
import type { Content } from '../content.js';
import { REPO_DIR } from '../options.js';
import { freePort, spawnGroup, stopGroup, which } from '../procs.js';
import { launchNginx, nginxConf, readyOrStopped, running, waitReady, type RunningServer } from '../servers.js';
import type { BenchCerts } from './certs.js';
import type { TlsScenario } from './scenarios.js';

export const TLS_SERVERS = ['segd', 'nginx', 'node-h2', 'node-h2-fields', 'node-https'] as const;
export type TlsServerName = (typeof TLS_SERVERS)[number];

type BareName = Exclude<TlsServerName, 'segd' | 'nginx'>;
const isBare = (name: TlsServerName): name is BareName => name !== 'segd' && name !== 'nginx';

export interface TlsServerContext {
  content: Content;
  certs: BenchCerts;
  cpu: number | null;
  segdCli: string;
  segdCacheSize: string;
  /** Processes per server (segd --workers, nginx worker_processes). */
  workers: number;
}

export type TlsServer = RunningServer<TlsServerName>;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The TLS 1.2 cipher list segd uses (src/server/tls.ts), in OpenSSL's syntax, for nginx's ssl_ciphers. */
export const TLS12_CIPHERS = String(TLS_PROTOCOL.ciphers);

export function tlsServerUnavailable(name: TlsServerName, ctx: TlsServerContext): string | null {
  if (isBare(name)) return ctx.workers === 1 ? null : 'one process only: the ceiling is per process';
  if (name === 'segd') return existsSync(ctx.segdCli) ? null : `${path.relative(REPO_DIR, ctx.segdCli)} not built (npm run build:ts)`;
  return which('nginx') ? null : 'nginx not installed (apt-get install nginx-light)';
}

function segdCommand(cli: string): string[] {
  return cli.endsWith('.ts') ? [process.execPath, '--import', 'tsx', cli] : [process.execPath, cli];
}

async function startSegd(ctx: TlsServerContext, port: number): Promise<TlsServer> {
  const node = segdCommand(ctx.segdCli);
  const notes = [`--cache-size ${ctx.segdCacheSize}`];
  const args = [
    ...node, 'serve', ctx.content.dir, '--host', '127.0.0.1', '--port', String(port),
    '--tls-cert', ctx.certs.cert, '--tls-key', ctx.certs.key, '--cache-size', ctx.segdCacheSize,
  ];
  // Builds that can fork workers default to one per core with TLS: the bench says how many.
  const help = spawnSync(node[0]!, [...node.slice(1), 'serve', '--help'], { encoding: 'utf8', cwd: REPO_DIR });
  if (/--workers\b/.test(help.stdout ?? '')) {
    args.push('--workers', String(ctx.workers));
    notes.push(`--workers ${ctx.workers}`);
  } else if (ctx.workers !== 1) throw new Error('this segd build has no --workers');
  const proc = spawnGroup(args, { cpu: ctx.cpu, cwd: REPO_DIR });
  await readyOrStopped(proc, port, ctx.content.playlistPath, 30_000, 'segd', { ca: readFileSync(ctx.certs.ca) });
  return { ...running('segd', port, proc, notes), baseUrl: `https://127.0.0.1:${port}` };
}

/** TLS 1.3 suites in OpenSSL's (and node's) default order: what segd offers. */
export const TLS13_SUITES = 'TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256';

/**
 * The http block of nginx.conf: TLS 1.2-1.3 with segd's TLS 1.2 suites and TLS 1.3 suites in
 * the same order, and the server's order preferred, as node:http2's secure server does (it sets
 * honorCipherOrder): with h2load, which lists AES-128 first, nginx would otherwise pick AES-128
 * and segd AES-256. HTTP/2 is `listen ... ssl http2` (nginx before 1.25.1 has no `http2 on;`);
 * the requests per connection cap (keepalive_requests, which also covers HTTP/2 since 1.19.7,
 * where http2_max_requests became obsolete) is raised in nginxConf so no connection is recycled
 * mid-run. sendfile stays on from nginxConf but does nothing here: without kernel TLS nginx
 * reads into its buffers and encrypts in user space.
 */
export function nginxTlsHttp(root: string, port: number, certs: BenchCerts): string {
  return `  open_file_cache max=10000 inactive=60s;
  open_file_cache_valid 1s;
  ssl_protocols TLSv1.2 TLSv1.3;
  ssl_ciphers ${TLS12_CIPHERS};
  ssl_conf_command Ciphersuites ${TLS13_SUITES};
  ssl_prefer_server_ciphers on;
  http2_max_concurrent_streams 128;
  server {
    listen 127.0.0.1:${port} ssl http2;
    ssl_certificate ${certs.cert};
    ssl_certificate_key ${certs.key};
    root ${root};
    location / { }
  }
`;
}

async function startNginx(ctx: TlsServerContext, port: number): Promise<TlsServer> {
  const ca = readFileSync(ctx.certs.ca);
  const nginx = await launchNginx('nginx', port, ctx.content.playlistPath, ctx.cpu, (prefix) => nginxConf(prefix, nginxTlsHttp(ctx.content.dir, port, ctx.certs), ctx.workers), (proc) =>
    waitReady(proc, port, ctx.content.playlistPath, 15_000, 'nginx', ca),
  );
  const warnings = (await readFile(path.join(nginx.prefix, 'error.log'), 'utf8').catch(() => '')).trim();
  if (warnings) nginx.notes.push(`error.log: ${warnings.slice(-300)}`);
  return { ...nginx, baseUrl: `https://127.0.0.1:${port}` };
}

/** Whether `name` serves scenario `s`: bare node:http2 only HTTP/2, bare node:https only HTTPS/1.1 without ranges. */
export function serves(name: TlsServerName, s: Pick<TlsScenario, 'name' | 'protocol'>): boolean {
  if (name === 'node-https') return s.protocol === 'HTTP/1.1' && s.name !== 'h1-ranges';
  return !isBare(name) || s.protocol === 'HTTP/2';
}

const BARE: Record<BareName, { form: string; what: string }> = {
  'node-h2': { form: 'h2', what: 'node:http2 stream API, every file in memory, :status and content-length only, no HTTP semantics' },
  'node-h2-fields': { form: 'h2-fields', what: 'node:http2 stream API, every file in memory, each with the header fields segd sends (made once at start), no HTTP semantics' },
  'node-https': { form: 'https', what: 'node:https, every file in memory, content-length only, each body to res.end() whole, no HTTP semantics' },
};

async function startBare(name: BareName, ctx: TlsServerContext, port: number): Promise<TlsServer> {
  const { form, what } = BARE[name];
  const proc = spawnGroup([process.execPath, '--import', 'tsx', path.join(REPO_DIR, 'bench', 'tls', 'bare.ts'), String(port), ctx.certs.cert, ctx.certs.key, ctx.content.dir, form], { cpu: ctx.cpu, cwd: REPO_DIR });
  for (const deadline = Date.now() + 60_000; !proc.stdout().includes('listening'); await sleep(100)) {
    if (proc.hasExited() || Date.now() > deadline) {
      await stopGroup(proc);
      throw new Error(`${name} did not start: ${proc.stderr().trim().slice(-500)}`);
    }
  }
  return { ...running(name, port, proc, [what]), baseUrl: `https://127.0.0.1:${port}` };
}

export async function startTlsServer(name: TlsServerName, ctx: TlsServerContext): Promise<TlsServer> {
  const port = await freePort();
  return name === 'segd' ? startSegd(ctx, port) : name === 'nginx' ? startNginx(ctx, port) : startBare(name, ctx, port);
}
