// Tools the bench needs beyond npm packages: nginx and wrk from Debian's packages, installed
// with apt-get when missing (only when allowed: never from the smoke test).
import { spawnSync } from 'node:child_process';
import { which } from './procs.js';

export interface Tools {
  nginx: boolean;
  wrk: boolean;
  taskset: boolean;
}

export function detectTools(): Tools {
  return { nginx: which('nginx') !== null, wrk: which('wrk') !== null, taskset: which('taskset') !== null };
}

function apt(args: string[], log: (l: string) => void): boolean {
  log(`$ apt-get ${args.join(' ')}`);
  const r = spawnSync('apt-get', args, {
    stdio: ['ignore', 'ignore', 'inherit'],
    // RUNLEVEL=1 keeps invoke-rc.d from starting the packaged nginx service on port 80.
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive', RUNLEVEL: '1' },
    timeout: 300_000,
  });
  return r.status === 0;
}

/** Installs nginx-light and wrk (and util-linux's taskset) when missing and allowed. */
export function ensureTools(opts: { install: boolean; needNginx: boolean; needWrk: boolean; log: (l: string) => void }): Tools {
  const tools = detectTools();
  const missing: string[] = [];
  if (opts.needNginx && !tools.nginx) missing.push('nginx-light');
  if (opts.needWrk && !tools.wrk) missing.push('wrk');
  if (!tools.taskset) missing.push('util-linux');
  if (missing.length === 0) return tools;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!opts.install || process.env.VITEST || !isRoot || !which('apt-get')) {
    opts.log(`missing: ${missing.join(', ')} (not installing${opts.install ? ': needs root and apt-get' : ''})`);
    return tools;
  }
  const install = (pkgs: string[]): boolean => apt(['install', '-y', '--no-install-recommends', ...pkgs], opts.log);
  if (!install(missing)) {
    apt(['update'], opts.log);
    if (!install(missing)) {
      // Newer Debian releases fold nginx-light into nginx.
      install(missing.map((p) => (p === 'nginx-light' ? 'nginx' : p)));
    }
  }
  return detectTools();
}
