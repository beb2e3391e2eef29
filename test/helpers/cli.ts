/** Runs segd's CLI from source in a child process, as a user would run `segd ...`. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { accessSync, chmodSync, constants, copyFileSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));

export interface CliRun {
  readonly child: ChildProcess;
  /** The exit code, or the signal that ended the process (so a failed check names, say, SIGSEGV). */
  readonly exited: Promise<number | NodeJS.Signals>;
  /** Resolves with the output so far once `until` matches it, or when the process exits. */
  readonly ready: Promise<string>;
  output(): string;
  stdout(): string;
  stderr(): string;
}

export interface CliOptions {
  readonly until?: RegExp;
  readonly timeoutMs?: number;
  /** Run as this user and group (the test runs as root; permissions bind only other users). */
  readonly uid?: number;
  readonly gid?: number;
  /** A shell line run first in the same shell, e.g. `ulimit -n 1024`. */
  readonly shellPrefix?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Another user must be able to reach the sources: a checkout is usually world-readable, but a
 * copy made for a tool (StrykerJS's sandbox is a private temporary directory) is not.
 */
function letOthersIn(dir: string): void {
  for (const d of pathAndParents(dir)) {
    const mode = statSync(d).mode;
    if ((mode & 0o005) !== 0o005) chmodSync(d, mode | 0o005);
  }
}

/** `path` and each directory above it, short of the root. */
function* pathAndParents(path: string): Generator<string> {
  for (let d = path; d !== dirname(d); d = dirname(d)) yield d;
}

/** Whether others may execute `file` and pass through every directory above it. */
function othersCanRun(file: string): boolean {
  return [...pathAndParents(file)].every((d) => (statSync(d).mode & 0o001) !== 0);
}

let nodeForOthers: string | undefined;

/**
 * The Node binary as another user can run it. CI's second Node comes from `npx node@24`, which
 * lives under root's private home; rather than open that up, run a copy from the temporary
 * directory (renamed into place, so test files copying at once never run a half-written one).
 */
function nodeBinaryForOthers(): string {
  if (nodeForOthers !== undefined) return nodeForOthers;
  if (othersCanRun(process.execPath)) return (nodeForOthers = process.execPath);
  const dir = join(tmpdir(), `segd-test-node-${process.version}-${statSync(process.execPath).size}`);
  const target = join(dir, 'node');
  try {
    accessSync(target, constants.X_OK);
  } catch {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    chmodSync(dir, 0o755);
    const partial = `${target}.${process.pid}`;
    copyFileSync(process.execPath, partial);
    chmodSync(partial, 0o755);
    renameSync(partial, target);
  }
  return (nodeForOthers = target);
}

export function cli(args: readonly string[], opts: CliOptions = {}): CliRun {
  if (opts.uid !== undefined) letOthersIn(REPO);
  const node = opts.uid !== undefined ? nodeBinaryForOthers() : process.execPath;
  const argv = [node, '--import', 'tsx', 'src/cli/main.ts', ...args];
  const [cmd, ...rest] = opts.shellPrefix === undefined ? argv : ['/bin/sh', '-c', `${opts.shellPrefix} && exec "$@"`, 'sh', ...argv];
  const child = spawn(cmd!, rest, {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: opts.env ?? process.env,
    ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.gid ?? opts.uid } : {}),
  });
  let out = '';
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => ((out += d.toString()), (stdout += d.toString())));
  child.stderr!.on('data', (d: Buffer) => ((out += d.toString()), (stderr += d.toString())));
  const exited = new Promise<number | NodeJS.Signals>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal!)));
  const ready = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`CLI did not print ${opts.until} in time; output: ${out}`)), opts.timeoutMs ?? 20_000);
    const check = (): void => {
      if (opts.until && opts.until.test(out)) {
        clearTimeout(timer);
        resolve(out);
      }
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    void exited.then(() => {
      clearTimeout(timer);
      resolve(out);
    });
  });
  return { child, exited, ready, output: () => out, stdout: () => stdout, stderr: () => stderr };
}

/** Starts `segd serve ...` and resolves with its base URL once it says it is serving. */
export async function serveCli(args: readonly string[], opts: Omit<CliOptions, 'until'> = {}): Promise<CliRun & { base: string }> {
  const run = cli(['serve', ...args], { ...opts, until: /serving .* at (http:\/\/\S+)/ });
  const out = await run.ready;
  const m = /serving .* at (http:\/\/[^\s"]+)/.exec(out);
  if (m === null) throw new Error(`segd did not start: ${out}`);
  return Object.assign(run, { base: m[1]! });
}
