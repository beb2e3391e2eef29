// Options of the edge bench (bench/edge.ts): defaults, --quick and command-line parsing.
import path from 'node:path';
import { parseSize } from '../../src/config/size.js';
import { ArgReader, BENCH_DIR, parseFlags, pickList, REPO_DIR } from '../options.js';
import { EDGE_NAMES, type EdgeName, type OriginTiming } from './edges.js';
import { DEFAULT_POOL_BYTES } from './objects.js';

export const EDGE_SCENARIOS = ['herd', 'hits', 'fill', 'outage'] as const;
export type EdgeScenario = (typeof EDGE_SCENARIOS)[number];

/** The hits scenario runs segd twice: hits from its memory tier, and from its disk tier. */
export const SEGD_TIERS = ['memory', 'disk'] as const;
export type SegdTier = (typeof SEGD_TIERS)[number];

const MiB = 2 ** 20;

export interface EdgeOptions {
  quick: boolean;
  servers: EdgeName[];
  scenarios: EdgeScenario[];
  segdCli: string;
  segdTiers: SegdTier[];
  /** segd --cache-size everywhere but the disk-tier hits run. */
  segdCacheSize: string;
  /** segd --cache-size for disk-tier hits: smaller than the hits set (default: an eighth of it). */
  segdDiskTierCacheSize: string | null;
  /** segd --cache-disk-size and nginx max_size. */
  diskBytes: number;
  varnishMalloc: string;
  herdClients: number;
  herdBytes: number;
  herdTrials: number;
  /** Size of the objects of the hits, fill and outage scenarios. */
  objectBytes: number;
  hitsObjects: number;
  outageObjects: number;
  outageSec: number;
  /** Connections of the bench's own client when it fills a set or sweeps it (not wrk's). */
  sweepConcurrency: number;
  /** Origin timing for herd, hits and outage (the fill uses an origin without either). */
  origin: OriginTiming;
  durationSec: number;
  warmupSec: number;
  connections: number;
  pin: boolean;
  /** Pin this process (the herd and sweep clients) to CPU 1 too. Only the CLI does that. */
  pinSelf: boolean;
  seed: string;
  outDir: string | null;
  log: (line: string) => void;
}

export function defaultEdgeOptions(overrides: Partial<EdgeOptions> = {}): EdgeOptions {
  const quick = overrides.quick ?? false;
  return {
    quick,
    servers: [...EDGE_NAMES],
    scenarios: [...EDGE_SCENARIOS],
    segdCli: path.join(REPO_DIR, 'dist', 'src', 'cli', 'main.js'),
    segdTiers: [...SEGD_TIERS],
    segdCacheSize: '512MiB',
    segdDiskTierCacheSize: null,
    diskBytes: 10 * 2 ** 30,
    varnishMalloc: '1G',
    herdClients: 200,
    herdBytes: 4 * MiB,
    herdTrials: quick ? 1 : 3,
    objectBytes: MiB,
    hitsObjects: quick ? 128 : 256,
    outageObjects: quick ? 16 : 64,
    outageSec: quick ? 2 : 5,
    sweepConcurrency: 8,
    origin: { delayMs: 50, paceMs: 200, chunkBytes: 64 * 1024 },
    durationSec: quick ? 3 : 10,
    warmupSec: quick ? 0 : 2,
    connections: 32,
    pin: true,
    pinSelf: false,
    seed: 'segd-edge-bench',
    outDir: path.join(BENCH_DIR, 'results'),
    log: (line) => console.log(line),
    ...overrides,
  };
}

/** The pool every object is cut from: room for the largest object, at least the default. */
export function poolBytes(o: EdgeOptions): number {
  return Math.max(DEFAULT_POOL_BYTES, 2 * Math.max(o.herdBytes, o.objectBytes));
}

/**
 * segd --cache-size of the disk-tier hits run: smaller than the set, so most hits load the disk
 * file, but at least twice what wrk's connections have in flight (a memory tier smaller than the
 * objects being sent at once makes segd answer 500: see bench/README.md, "Edge").
 */
export function diskTierCacheSize(o: EdgeOptions): string {
  if (o.segdDiskTierCacheSize !== null) return o.segdDiskTierCacheSize;
  const set = o.hitsObjects * o.objectBytes;
  const size = Math.max(set / 4, 2 * o.connections * o.objectBytes);
  return `${Math.max(1, Math.floor((size < set ? size : set / 2) / MiB))}MiB`;
}

export const EDGE_USAGE = `usage: npx tsx bench/edge.ts [options]
  --quick                   short run: 1 herd trial, 128-object hits set, 3 s per measurement (~3 min)
  --servers a,b             ${EDGE_NAMES.join(',')}
  --scenarios a,b           ${EDGE_SCENARIOS.join(',')}
  --segd-cli FILE           segd's CLI (default dist/src/cli/main.js; a .ts file runs via tsx)
  --segd-tiers a,b          hits from segd's ${SEGD_TIERS.join(', ')} tier (default both)
  --segd-cache-size SIZE    segd --cache-size (default 512MiB; the disk-tier hits run uses less)
  --segd-disk-tier-cache-size SIZE   segd --cache-size for disk-tier hits (default: 1/4 of the hits set,
                                     at least 2 × connections × object size)
  --cache-disk-size SIZE    segd --cache-disk-size and nginx max_size (default 10GiB)
  --varnish-malloc SIZE     Varnish -s malloc size (default 1G)
  --herd-clients N          clients of the thundering herd (default 200)
  --herd-size SIZE          the herd's object (default 4MiB)
  --herd-trials N           fresh edge per trial (default 3, quick 1)
  --object-size SIZE        objects of hits, fill and outage (default 1MiB)
  --hits-objects N          objects in the hits set (default 256, quick 128)
  --outage-objects N        objects cached before the origin stops, fresh and again stale (default 64, quick 16)
  --outage-seconds S        how long requests go on with the origin down (default 5, quick 2)
  --origin-delay MS         origin's first-byte delay (default 50; not in the fill)
  --origin-pace MS          origin spreads each body over MS ms (default 200; 0: at once; not in the fill)
  --origin-chunk SIZE       pieces of a paced body (default 64KiB)
  --duration SECONDS        measured seconds of hits and fill (default 10, quick 3)
  --warmup SECONDS          unmeasured seconds before them (default 2, quick 0)
  --connections N           wrk connections (default 32)
  --out DIR                 results go to DIR/edge-<timestamp>/ (default bench/results)
  --no-pin                  do not pin processes to CPUs with taskset`;

/** Parses argv (without node and script). Returns null for --help. */
export function parseEdgeArgs(argv: string[]): EdgeOptions | null {
  const o: Partial<EdgeOptions> = {};
  const origin: Partial<OriginTiming> = {};
  /** A size, checked here; segd's sizes are passed on as written (it parses them the same way). */
  const sizeOf = (flag: string, v: string): number => {
    try {
      return parseSize(v);
    } catch (e) {
      throw new Error(`${flag}: ${(e as Error).message}`);
    }
  };
  const size = (flag: string, args: ArgReader): number => sizeOf(flag, args.value(flag));
  const text = (flag: string, args: ArgReader): string => {
    const v = args.value(flag);
    sizeOf(flag, v);
    return v;
  };
  const whole = (flag: string, args: ArgReader, min: number): number => Math.floor(args.number(flag, min));
  const own: Record<string, (flag: string, args: ArgReader) => void> = {
    '--segd-tiers': (f, a) => (o.segdTiers = pickList(a.value(f), SEGD_TIERS, 'segd tier')),
    '--segd-cache-size': (f, a) => (o.segdCacheSize = text(f, a)),
    '--segd-disk-tier-cache-size': (f, a) => (o.segdDiskTierCacheSize = text(f, a)),
    '--cache-disk-size': (f, a) => (o.diskBytes = size(f, a)),
    '--varnish-malloc': (f, a) => (o.varnishMalloc = a.value(f)),
    '--herd-clients': (f, a) => (o.herdClients = whole(f, a, 1)),
    '--herd-size': (f, a) => (o.herdBytes = size(f, a)),
    '--herd-trials': (f, a) => (o.herdTrials = whole(f, a, 1)),
    '--object-size': (f, a) => (o.objectBytes = size(f, a)),
    '--hits-objects': (f, a) => (o.hitsObjects = whole(f, a, 1)),
    '--outage-objects': (f, a) => (o.outageObjects = whole(f, a, 1)),
    '--outage-seconds': (f, a) => (o.outageSec = a.number(f, 0)),
    '--origin-delay': (f, a) => (origin.delayMs = a.number(f, 0)),
    '--origin-pace': (f, a) => (origin.paceMs = a.number(f, 0)),
    '--origin-chunk': (f, a) => (origin.chunkBytes = size(f, a)),
  };
  const common = parseFlags(argv, { servers: EDGE_NAMES, scenarios: EDGE_SCENARIOS }, EDGE_USAGE, (flag, args) => {
    if (!Object.hasOwn(own, flag)) return false;
    own[flag]!(flag, args);
    return true;
  });
  if (common === null) return null;
  const opts = defaultEdgeOptions({ ...o, ...common, pinSelf: common.pin ?? true });
  opts.origin = { ...opts.origin, ...origin };
  return opts;
}
