// Child processes in their own process groups, CPU pinning, cleanup on exit or signal,
// and /proc sampling (CPU time, memory, descriptors, mappings).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export interface GroupChild {
  child: ChildProcess;
  pid: number;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited: Promise<number | string>;
  hasExited: () => boolean;
  stdout: () => string;
  stderr: () => string;
}

const live = new Set<number>();
const tempDirs = new Set<string>();

/** Temporary directories removed on exit or signal unless released first. */
export function trackTempDir(dir: string): string {
  tempDirs.add(dir);
  return dir;
}

export function releaseTempDir(dir: string): void {
  tempDirs.delete(dir);
}

export function which(cmd: string): string | null {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').concat(['/usr/sbin', '/sbin'])) {
    if (!dir) continue;
    const file = path.join(dir, cmd);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      /* next */
    }
  }
  return null;
}

/** Prefix that pins a command to one CPU, or nothing when taskset is missing or pinning is off. */
export function pinPrefix(cpu: number | null): string[] {
  if (cpu === null) return [];
  const taskset = which('taskset');
  return taskset ? [taskset, '-c', String(cpu)] : [];
}

/** Pins every thread of this process to a CPU (autocannon runs in it). */
export function pinSelf(cpu: number): boolean {
  const taskset = which('taskset');
  if (!taskset) return false;
  return spawnSync(taskset, ['-a', '-p', '-c', String(cpu), String(process.pid)], { stdio: 'ignore' }).status === 0;
}

function tail(s: string, max = 16_384): string {
  return s.length > max ? s.slice(s.length - max) : s;
}

/**
 * Spawns argv in a new session (its own process group, so the whole tree can be killed),
 * optionally pinned to a CPU.
 */
export function spawnGroup(
  argv: string[],
  opts: { cpu: number | null; cwd?: string; env?: NodeJS.ProcessEnv; onLine?: (line: string) => void },
): GroupChild {
  const full = [...pinPrefix(opts.cpu), ...argv];
  const child = spawn(full[0]!, full.slice(1), {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let partial = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out = tail(out + d);
    if (opts.onLine) {
      const lines = (partial + d).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) opts.onLine(l);
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err = tail(err + d);
    opts.onLine?.(d.trimEnd());
  });
  let done = false;
  const exited = new Promise<number | string>((resolve) => {
    child.once('error', (e) => {
      err += String(e);
      done = true;
      resolve('spawn-error');
    });
    child.once('exit', (code, signal) => {
      done = true;
      resolve(code ?? signal ?? 'unknown');
    });
  });
  const pid = child.pid ?? -1;
  if (pid > 0) {
    live.add(pid);
    void exited.then(() => {
      // The group may outlive its leader (e.g. workers); cleanup still targets the group.
      if (!groupAlive(pid)) live.delete(pid);
    });
  }
  return { child, pid, exited, hasExited: () => done, stdout: () => out, stderr: () => err };
}

export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function signalGroup(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch {
    /* gone */
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * SIGTERM to the group, SIGKILL after graceMs; resolves once no process of the group is left,
 * with true when SIGKILL was needed.
 */
export async function stopGroup(g: GroupChild, graceMs = 5000, extraPids: number[] = []): Promise<boolean> {
  if (g.pid <= 0) return false;
  signalGroup(g.pid, 'SIGTERM');
  for (const p of extraPids) {
    try {
      process.kill(p, 'SIGTERM');
    } catch {
      /* gone */
    }
  }
  const deadline = Date.now() + graceMs;
  while (groupAlive(g.pid) && Date.now() < deadline) await sleep(50);
  let killed = false;
  if (groupAlive(g.pid)) {
    killed = true;
    signalGroup(g.pid, 'SIGKILL');
    while (groupAlive(g.pid) && Date.now() < deadline + 2000) await sleep(50);
  }
  await Promise.race([g.exited, sleep(1000)]);
  live.delete(g.pid);
  return killed;
}

/** Kills every group still alive, synchronously (usable in 'exit' handlers). */
export function killAllSync(): void {
  for (const pgid of live) signalGroup(pgid, 'SIGKILL');
  live.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

export function liveGroups(): number[] {
  return [...live].filter(groupAlive);
}

/**
 * Installs SIGINT/SIGTERM/exit handlers that kill every child group; `onSignal` runs first
 * (e.g. to stop in-process load). Returns the uninstaller.
 */
export function installCleanupHandlers(onSignal: () => void): () => void {
  const handler = (sig: NodeJS.Signals): void => {
    try {
      onSignal();
    } finally {
      killAllSync();
      process.stderr.write(`\nbench: ${sig}: stopped all servers\n`);
      process.exit(sig === 'SIGINT' ? 130 : 143);
    }
  };
  const onExit = (): void => killAllSync();
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  process.on('exit', onExit);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
    process.off('exit', onExit);
  };
}

// ---- ports -------------------------------------------------------------------------------

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** True when nothing accepts connections on 127.0.0.1:port. */
export function portClosed(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(false);
    });
    sock.once('error', () => resolve(true));
  });
}

// ---- /proc sampling ----------------------------------------------------------------------

const CLK_TCK = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

function statFields(pid: number): string[] | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may contain spaces: index 0 is field 3 (state).
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** Pids whose process group is pgid. */
export function groupPids(pgid: number): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [pgid];
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const f = statFields(Number(e));
    if (f && Number(f[2]) === pgid) out.push(Number(e));
  }
  return out;
}

/** CPU seconds (user + system) used so far by the given pids. */
export function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const f = statFields(pid);
    if (f) ticks += Number(f[11]) + Number(f[12]); // utime, stime (fields 14, 15)
  }
  return ticks / CLK_TCK;
}

/** A kB field of /proc/PID/status, 0 when unreadable. */
export function statusKiB(pid: number, key: 'VmRSS' | 'VmHWM' | 'RssAnon'): number {
  try {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Open descriptors of a process: sockets apart, since their number follows the traffic. */
export function openFds(pid: number): { sockets: number; others: number } {
  const out = { sockets: 0, others: 0 };
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return out;
  }
  for (const fd of fds) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) out.sockets++;
      else out.others++;
    } catch {
      /* closed since the listing */
    }
  }
  return out;
}

/** Memory mappings of a process (lines of /proc/PID/maps), 0 when unreadable. */
export function mappingCount(pid: number): number {
  try {
    const maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
    return maps.split('\n').length - 1;
  } catch {
    return 0;
  }
}

/**
 * Peak resident memory of a process group during a phase: resets the kernel's high-water
 * mark where permitted (clear_refs 5), polls VmRSS meanwhile and reads VmHWM at the end.
 */
export class RssSampler {
  private peak = 0;
  private timer: NodeJS.Timeout | null = null;
  private hwmReset = false;

  constructor(private readonly pids: number[]) {}

  start(intervalMs = 100): void {
    this.hwmReset = this.pids.every((pid) => {
      try {
        writeFileSync(`/proc/${pid}/clear_refs`, '5');
        return true;
      } catch {
        return false;
      }
    });
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  private sample(): void {
    const rss = this.pids.reduce((a, p) => a + statusKiB(p, 'VmRSS'), 0);
    if (rss > this.peak) this.peak = rss;
  }

  /** Peak in bytes. */
  stop(): number {
    if (this.timer) clearInterval(this.timer);
    this.sample();
    let peak = this.peak;
    if (this.hwmReset) peak = Math.max(peak, this.pids.reduce((a, p) => a + statusKiB(p, 'VmHWM'), 0));
    return peak * 1024;
  }
}

/** What `watched` saw of a group's processes while a load ran. */
export interface Watched<T> {
  result: T;
  /** CPU seconds the processes used during the load. */
  cpuSeconds: number;
  peakRssBytes: number;
}

/** Runs `load` while counting the CPU seconds and sampling the peak RSS of `pids`. */
export async function watched<T>(pids: number[], load: () => Promise<T>): Promise<Watched<T>> {
  const rss = new RssSampler(pids);
  rss.start();
  const cpu0 = cpuSeconds(pids);
  let peak = 0;
  let result: T;
  try {
    result = await load();
  } finally {
    peak = rss.stop();
  }
  return { result, cpuSeconds: cpuSeconds(pids) - cpu0, peakRssBytes: peak };
}
