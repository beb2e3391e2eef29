// Options of the benchmark harness: defaults, quick mode and command-line parsing.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Directory of this module: bench/ under tsx, dist/bench/ when compiled. */
export const MODULE_DIR = path.dirname(fileURLToPath(import.meta.url));

function findRepo(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) return path.resolve(from, '..');
  }
}

export const REPO_DIR = findRepo(MODULE_DIR);
/** The source bench/ directory (generated data and results live there in either case). */
export const BENCH_DIR = path.join(REPO_DIR, 'bench');

export const SERVER_NAMES = ['segd', 'nginx', 'nginx-aio', 'fastify-static', 'serve-static', 'bare', 'bare-pread'] as const;
export type ServerName = (typeof SERVER_NAMES)[number];

export const SCENARIO_NAMES = ['playlist', 'segments', 'ranges', 'cold', 'revalidate', 'head', 'mix', 'disk'] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

export interface ContentSpec {
  /** Whole hot segments under seg/. */
  segmentCount: number;
  segmentBytes: number;
  /** Single-file rendition range/main.mp4, addressed by EXT-X-BYTERANGE. */
  rangeFileBytes: number;
  rangeChunkBytes: number;
  /** Cold library under cold/: several times segd's cache. */
  coldBytes: number;
  coldSegmentBytes: number;
  /** Library under disk/ (segments of coldSegmentBytes) for the disk scenario, DISK_MEMORY_SHARE of it allowed in memory. */
  diskBytes: number;
}

/** The disk scenario's memory cgroup limit, as a share of its library: reads really go to the device. */
export const DISK_MEMORY_SHARE = 0.25;

export interface BenchOptions {
  quick: boolean;
  servers: ServerName[];
  scenarios: ScenarioName[];
  /** Measured seconds per server and scenario. */
  durationSec: number;
  /** Unmeasured seconds before each measurement (0: none). */
  warmupSec: number;
  connections: number;
  content: ContentSpec;
  /** Where content is generated (reused across runs when the spec matches). */
  dataDir: string;
  /** Where report.json / report.md / chart.svg go; null: write nothing. */
  outDir: string | null;
  /** Value of segd's --cache-size flag. */
  segdCacheSize: string;
  /** segd's CLI: built dist/src/cli/main.js by default; a .ts path runs through tsx. */
  segdCli: string;
  /** Pin servers to CPU 0 and load generators to CPU 1 with taskset. */
  pin: boolean;
  /** Pin this process (autocannon runs in it) to CPU 1 too. Only the CLI does that. */
  pinSelf: boolean;
  /** May apt-get install nginx-light / wrk when missing (never in tests). */
  install: boolean;
  /** Drop the page cache before the cold scenario, when permitted. */
  dropCaches: boolean;
  /** Use wrk for byte-throughput scenarios when installed; false: autocannon only. */
  useWrk: boolean;
  /** Use wrk for the request-rate scenarios too (autocannon tops out below nginx's rate here). */
  wrkRates: boolean;
  log: (line: string) => void;
}

export const FULL_CONTENT: ContentSpec = {
  segmentCount: 64,
  segmentBytes: 1 * MiB,
  rangeFileBytes: 64 * MiB,
  rangeChunkBytes: 256 * KiB,
  coldBytes: 1 * GiB,
  coldSegmentBytes: 1 * MiB,
  diskBytes: 2 * GiB,
};

export const QUICK_CONTENT: ContentSpec = { ...FULL_CONTENT, coldBytes: 256 * MiB, diskBytes: 512 * MiB };

export function contentKey(c: ContentSpec): string {
  const k = (n: number): string => (n % MiB === 0 ? `${n / MiB}m` : `${n / KiB}k`);
  return `s${c.segmentCount}x${k(c.segmentBytes)}-r${k(c.rangeFileBytes)}@${k(c.rangeChunkBytes)}-c${k(c.coldBytes)}@${k(c.coldSegmentBytes)}-d${k(c.diskBytes)}`;
}

export function defaultOptions(overrides: Partial<BenchOptions> = {}): BenchOptions {
  const quick = overrides.quick ?? false;
  const content = overrides.content ?? (quick ? QUICK_CONTENT : FULL_CONTENT);
  return {
    quick,
    servers: [...SERVER_NAMES],
    scenarios: [...SCENARIO_NAMES],
    durationSec: quick ? 2 : 10,
    warmupSec: quick ? 0 : 2,
    connections: 32,
    dataDir: path.join(BENCH_DIR, '.data', contentKey(content)),
    outDir: path.join(BENCH_DIR, 'results'),
    segdCacheSize: quick ? '64MiB' : '256MiB',
    segdCli: path.join(REPO_DIR, 'dist', 'src', 'cli', 'main.js'),
    pin: true,
    pinSelf: false,
    install: false,
    dropCaches: false,
    useWrk: true,
    wrkRates: false,
    log: (line) => console.log(line),
    ...overrides,
    content,
  };
}

/** A comma-separated list of names, each one of `allowed`. */
export function pickList<T extends string>(value: string, allowed: readonly T[], what: string): T[] {
  const out: T[] = [];
  for (const raw of value.split(',')) {
    const v = raw.trim();
    if (!v) continue;
    if (!(allowed as readonly string[]).includes(v)) {
      throw new Error(`unknown ${what} "${v}" (known: ${allowed.join(', ')})`);
    }
    out.push(v as T);
  }
  if (out.length === 0) throw new Error(`no ${what} given`);
  return out;
}

/** Command-line flags one at a time, `--flag value` or `--flag=value` (shared by run.ts and edge.ts). */
export class ArgReader {
  private readonly rest: string[];

  constructor(argv: readonly string[]) {
    this.rest = [...argv];
  }

  /** The next argument (a flag's name when it came as `--flag=value`), or undefined at the end. */
  next(): string | undefined {
    const arg = this.rest.shift();
    if (arg === undefined) return undefined;
    const eq = arg.indexOf('=');
    if (!arg.startsWith('--') || eq < 0) return arg;
    this.rest.unshift(arg.slice(eq + 1));
    return arg.slice(0, eq);
  }

  value(flag: string): string {
    const v = this.rest.shift();
    if (v === undefined || v.startsWith('--')) throw new Error(`${flag} needs a value`);
    return v;
  }

  number(flag: string, min: number): number {
    const v = this.value(flag);
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new Error(`${flag}: bad number "${v}"`);
    return n;
  }
}

export const USAGE = `usage: npm run bench -- [options]
  --quick                 short run (2 s per scenario, smaller cold set; < 2 min)
  --servers a,b           ${SERVER_NAMES.join(',')}
  --scenarios a,b         ${SCENARIO_NAMES.join(',')}
  --duration SECONDS      measured seconds per server and scenario
  --warmup SECONDS        unmeasured seconds before each measurement
  --connections N         concurrent connections (default 32)
  --cache-size SIZE       segd --cache-size (default 256MiB, quick 64MiB)
  --segd-cli FILE         segd's CLI (default dist/src/cli/main.js; a .ts file runs via tsx)
  --data-dir DIR          where synthetic content is generated (default bench/.data/...)
  --out DIR               where results are written (default bench/results)
  --drop-caches           drop the page cache before the cold scenario (when permitted)
  --no-pin                do not pin processes to CPUs with taskset
  --no-wrk                use autocannon for every scenario
  --wrk-rates             use wrk for the request-rate scenarios too (autocannon is slower than nginx here)
  --no-install            never apt-get install missing nginx/wrk`;

/** The flags every bench entry point takes (bench/run.ts, tls.ts, edge.ts), each only when given. */
export interface CommonFlags<S extends string, C extends string> {
  quick?: boolean;
  servers?: S[];
  scenarios?: C[];
  durationSec?: number;
  warmupSec?: number;
  connections?: number;
  segdCli?: string;
  outDir?: string;
  /** --no-pin: neither the servers nor the generators (nor this process) are pinned. */
  pin?: false;
}

/**
 * Parses argv (without node and script): the common flags here, every other one by `own`, which
 * says whether it took it. Null for --help; an unknown flag throws with `usage`. The values are
 * only those given, so that spread over a script's defaults they win over --quick's whatever
 * their order on the command line.
 */
export function parseFlags<S extends string, C extends string>(
  argv: string[],
  names: { servers: readonly S[]; scenarios: readonly C[] },
  usage: string,
  own: (flag: string, args: ArgReader) => boolean = () => false,
): CommonFlags<S, C> | null {
  const o: CommonFlags<S, C> = {};
  const args = new ArgReader(argv);
  for (let a = args.next(); a !== undefined; a = args.next()) {
    switch (a) {
      case '--':
        break;
      case '-h':
      case '--help':
        return null;
      case '--quick':
        o.quick = true;
        break;
      case '--servers':
        o.servers = pickList(args.value(a), names.servers, 'server');
        break;
      case '--scenarios':
        o.scenarios = pickList(args.value(a), names.scenarios, 'scenario');
        break;
      case '--duration':
        o.durationSec = args.number(a, 1);
        break;
      case '--warmup':
        o.warmupSec = args.number(a, 0);
        break;
      case '--connections':
        o.connections = Math.floor(args.number(a, 1));
        break;
      case '--segd-cli':
        o.segdCli = path.resolve(args.value(a));
        break;
      case '--out':
        o.outDir = path.resolve(args.value(a));
        break;
      case '--no-pin':
        o.pin = false;
        break;
      default:
        if (!own(a, args)) throw new Error(`unknown argument "${a}"\n${usage}`);
    }
  }
  return o;
}

/** Parses argv (without node and script). Returns null for --help. */
export function parseArgs(argv: string[]): BenchOptions | null {
  const o: Partial<BenchOptions> = { install: true };
  const common = parseFlags(argv, { servers: SERVER_NAMES, scenarios: SCENARIO_NAMES }, USAGE, (flag, args) => {
    if (flag === '--cache-size') o.segdCacheSize = args.value(flag);
    else if (flag === '--data-dir') o.dataDir = path.resolve(args.value(flag));
    else if (flag === '--drop-caches') o.dropCaches = true;
    else if (flag === '--no-wrk') o.useWrk = false;
    else if (flag === '--wrk-rates') o.wrkRates = true;
    else if (flag === '--no-install') o.install = false;
    else return false;
    return true;
  });
  return common && defaultOptions({ ...o, ...common, pinSelf: common.pin ?? true });
}

/**
 * The command-line entry of a bench script, when `moduleUrl` is the script node was started with:
 * parse (bad arguments: the message and exit 2; --help: the usage), run, then exit 0, or 1 with
 * the stack when the run throws.
 */
export function runAsMain<O>(moduleUrl: string, parse: (argv: string[]) => O | null, usage: string, run: (o: O) => Promise<unknown>): void {
  if (!process.argv[1] || path.resolve(process.argv[1]) !== fileURLToPath(moduleUrl)) return;
  let opts: O | null;
  try {
    opts = parse(process.argv.slice(2));
  } catch (e) {
    console.error((e as Error).message);
    process.exit(2);
  }
  if (!opts) {
    console.log(usage);
    return;
  }
  const t0 = Date.now();
  run(opts).then(
    () => {
      console.log(`done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      process.exit(0);
    },
    (e: unknown) => {
      console.error(e instanceof Error ? (e.stack ?? e.message) : e);
      process.exit(1);
    },
  );
}
