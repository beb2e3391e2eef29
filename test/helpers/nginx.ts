/** A real nginx (Debian nginx-light) serving a folder on an ephemeral port: the HTTP origin of edge tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from './wait.js';

export const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));

export interface Nginx {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
  /** Starts it again on the same port (after stop()). */
  start(): Promise<void>;
  /** Requests nginx has logged, for `path` only when given. */
  requests(path?: string): number;
  /**
   * The same, once at least `atLeast` are logged: nginx writes a request's log line after it has
   * answered, so a count read as soon as segd has answered can be one short on a busy machine.
   */
  requestsReaching(atLeast: number, path?: string): Promise<number>;
  /** Stops it and removes its files. */
  remove(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** `extra`: directives inside the server block (e.g. a location with headers). */
export async function startNginx(root: string, extra = ''): Promise<Nginx> {
  if (NGINX === undefined) throw new Error('nginx is not installed (apt-get install nginx-light)');
  const prefix = mkdtempSync(join(tmpdir(), 'segd-nginx-'));
  mkdirSync(join(prefix, 'tmp'));
  const port = await freePort();
  const asRoot = process.getuid?.() === 0;
  writeFileSync(
    join(prefix, 'nginx.conf'),
    `${asRoot ? 'user root;' : ''}
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 1024; }
http {
  types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; video/mp4 mp4 m4s; }
  default_type application/octet-stream;
  access_log ${prefix}/access.log;
  client_body_temp_path ${prefix}/tmp/body;
  proxy_temp_path ${prefix}/tmp/proxy;
  fastcgi_temp_path ${prefix}/tmp/fastcgi;
  uwsgi_temp_path ${prefix}/tmp/uwsgi;
  scgi_temp_path ${prefix}/tmp/scgi;
  server {
    listen 127.0.0.1:${port};
    root ${root};
    location / { }
    ${extra}
  }
}
`,
  );
  let proc: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    proc = spawn(NGINX, ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'ignore' });
    for (let i = 0; i < 200; i++) {
      const up = await fetch(`http://127.0.0.1:${port}/`).then(() => true, () => false);
      if (up) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`nginx did not start: ${readFileSync(join(prefix, 'error.log'), 'utf8')}`);
  };
  const stop = async (): Promise<void> => {
    const p = proc;
    proc = undefined;
    if (p === undefined || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await exited;
  };
  const requests = (path?: string): number => {
    const log = existsSync(join(prefix, 'access.log')) ? readFileSync(join(prefix, 'access.log'), 'utf8') : '';
    return log.split('\n').filter((l) => l !== '' && (path === undefined || l.includes(` ${path} HTTP/`))).length;
  };
  await start();
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    start,
    async stop() {
      await stop();
    },
    requests,
    requestsReaching(atLeast, path) {
      const reached = (): number | false => {
        const n = requests(path);
        return n >= atLeast && n;
      };
      return eventually(reached, { what: `${atLeast} logged requests for ${path ?? 'anything'}`, timeoutMs: 5000 });
    },
    async remove() {
      await stop();
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}
