// h2load (nghttp2-client) for the HTTP/2 scenarios, pinned like wrk: timing-based (-D) over a
// file of URIs that every client cycles through, its CPU from bash's `times`, latency
// percentiles from its per-request log (--log-file).
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseTimes } from '../generators/wrk.js';
import { releaseTempDir, spawnGroup, stopGroup, trackTempDir, which, type GroupChild } from '../procs.js';

export interface H2loadRun {
  /** Absolute https:// URIs; the first one decides scheme, host and port. */
  uris: string[];
  clients: number;
  /** Concurrent streams per client (-m). */
  streams: number;
  durationSec: number;
  cpu: number | null;
  /** Write --log-file and compute p50/p99 from it. */
  latencyLog: boolean;
}

export interface H2loadResult {
  generator: 'h2load';
  /** Requests that completed (h2load's "done") and those that succeeded (2xx or 3xx). */
  done: number;
  succeeded: number;
  failed: number;
  errored: number;
  timeout: number;
  status: { '2xx': number; '3xx': number; '4xx': number; '5xx': number };
  /** Bytes received, frames' headers and payloads (h2load's "total"), and the DATA payload alone. */
  bytes: number;
  dataBytes: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  maxMs: number;
  cpuSeconds: number;
  /** Successful rows of the per-request log the percentiles come from (0 without it). */
  logRows: number;
  /** "h2" when ALPN chose HTTP/2. */
  protocol: string;
  tls: string;
  raw: string;
}

let current: GroupChild | null = null;

export const h2loadAvailable = (): boolean => which('h2load') !== null && which('bash') !== null;

export function abortH2load(): void {
  if (current) void stopGroup(current, 500);
}

/** "1.23ms", "456us", "1.2s" → milliseconds. */
function ms(v: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(v.trim());
  if (!m) return NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 'ms' ? n : n * 1000;
}

/** The figures of h2load's summary. Throws when it printed none. */
export function parseH2load(out: string): Omit<H2loadResult, 'p50Ms' | 'p99Ms' | 'cpuSeconds' | 'generator' | 'logRows'> {
  const num = (re: RegExp): number => {
    const m = re.exec(out);
    return m ? Number(m[1]) : NaN;
  };
  const finished = /finished in ([\d.]+)s,/.exec(out);
  if (!finished) throw new Error(`h2load printed no summary:\n${out.slice(-1200)}`);
  const req = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  const st = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  const time = /time for request:\s+(\S+)\s+(\S+)\s+(\S+)/.exec(out);
  return {
    done: Number(req?.[3] ?? NaN),
    succeeded: Number(req?.[4] ?? NaN),
    failed: Number(req?.[5] ?? NaN),
    errored: Number(req?.[6] ?? NaN),
    timeout: Number(req?.[7] ?? NaN),
    status: { '2xx': Number(st?.[1] ?? NaN), '3xx': Number(st?.[2] ?? NaN), '4xx': Number(st?.[3] ?? NaN), '5xx': Number(st?.[4] ?? NaN) },
    bytes: num(/traffic: \S+ \((\d+)\) total/),
    dataBytes: num(/\((\d+)\) data/),
    seconds: Number(finished[1]),
    meanMs: time ? ms(time[3]!) : NaN,
    maxMs: time ? ms(time[2]!) : NaN,
    protocol: /Application protocol: (\S+)/.exec(out)?.[1] ?? 'none',
    tls: [/TLS Protocol: (\S+)/.exec(out)?.[1], /Cipher: (\S+)/.exec(out)?.[1], /Server Temp Key: (.+)/.exec(out)?.[1]?.trim()].filter(Boolean).join(', '),
    raw: out.slice(out.indexOf('finished in')),
  };
}

/** p50 and p99 of the third column (microseconds to the end of the response) of successful rows. */
export function logPercentiles(log: string): { p50Ms: number; p99Ms: number; rows: number } {
  const us: number[] = [];
  for (const line of log.split('\n')) {
    const [, status, t] = line.split('\t');
    if (t !== undefined && Number(status) > 0) us.push(Number(t));
  }
  if (us.length === 0) return { p50Ms: NaN, p99Ms: NaN, rows: 0 };
  const sorted = Float64Array.from(us).sort();
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]! / 1000;
  return { p50Ms: at(0.5), p99Ms: at(0.99), rows: us.length };
}

export async function runH2load(r: H2loadRun): Promise<H2loadResult> {
  const dir = trackTempDir(await mkdtemp(path.join(os.tmpdir(), 'segd-bench-h2load-')));
  try {
    const uriFile = path.join(dir, 'uris.txt');
    const logFile = path.join(dir, 'requests.tsv');
    await writeFile(uriFile, `${r.uris.join('\n')}\n`);
    const seconds = Math.max(1, Math.round(r.durationSec));
    const args = ['-t', '1', '-c', String(r.clients), '-m', String(r.streams), '-D', String(seconds), '-i', uriFile];
    if (r.latencyLog) args.push(`--log-file=${logFile}`);
    const proc = spawnGroup([which('bash')!, '-c', 'h2load "$@"; rc=$?; times >&2; exit $rc', 'bash', ...args], { cpu: r.cpu });
    current = proc;
    // h2load's timing-based mode can wait for ever for a client that never got going (seen here
    // under heavy load): it is stopped, and the run reported as an error, 20 s past its end.
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      void stopGroup(proc, 1000);
    }, (seconds + 20) * 1000);
    const code = await proc.exited;
    clearTimeout(timer);
    if (hung) throw new Error(`h2load did not finish within ${seconds + 20} s of a ${seconds} s run (stopped)`);
    current = null;
    await stopGroup(proc, 500);
    const parsed = parseH2load(proc.stdout());
    if (code !== 0 && !Number.isFinite(parsed.done)) throw new Error(`h2load exited ${code}: ${proc.stderr().trim().slice(-800)}`);
    const lat = r.latencyLog ? logPercentiles(await readFile(logFile, 'utf8').catch(() => '')) : { p50Ms: NaN, p99Ms: NaN, rows: 0 };
    return { generator: 'h2load', ...parsed, p50Ms: lat.p50Ms, p99Ms: lat.p99Ms, logRows: lat.rows, cpuSeconds: parseTimes(proc.stderr()) };
  } finally {
    current = null;
    await rm(dir, { recursive: true, force: true });
    releaseTempDir(dir);
  }
}
