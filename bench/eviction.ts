// The disk tier's eviction policies on a simulated HLS VOD trace: byte and object hit ratios of
// S3-FIFO and LRU at several cache sizes, and the cost of their operations.
// Run: npx tsx bench/eviction.ts [--titles 1000] [--alpha 0.9] [--seed 1] [--sizes 1,5,10,25]   (~1 min)
//
// Workload (every choice is drawn from one seeded PRNG, so a run replays exactly):
// - A catalogue of `titles` titles of 20–120 minutes in 6 s segments, each in 4 renditions of
//   1.6–5.2 Mbit/s (segments of about 1.2–3.9 MB, ±20% as VBR encoders make them), with a media
//   playlist per rendition and a master playlist.
// - Popularity is Zipf over the titles with exponent `alpha`. Web objects measure 0.64–0.83
//   (Breslau et al., "Web Caching and Zipf-like Distributions", INFOCOM 1999) and VOD catalogues
//   are usually modelled with 0.8–1; measured media workloads often have a flatter head than
//   Zipf (Guo et al., "Does Internet Media Traffic Really Follow Zipf-like Distribution?",
//   SIGMETRICS 2007), which is what a lower --alpha tries.
// - A view fetches the master playlist, starts on the lowest rendition for two segments (as
//   players do before they have measured the bandwidth), then plays one rendition in order.
//   One view in five resumes at a random point. Viewers browse: "only around 20% of the time" is
//   a video watched to its end ("Video Browsing: A Study of User Behavior in Online VoD
//   Services", 2013, 540 million sessions); here half the views stop after an exponential
//   2 minutes on average, the others after 60, and the share that reaches the end is printed.
// - `scan-share` of the sessions are a crawler or a prefetcher walking one rendition of a title
//   picked uniformly, start to end, once.
// - `viewers` sessions run at once, their requests interleaved at random.
//
// Each policy replays the trace from empty: a hit is touch(); a miss is evict(size) then
// insert(key, size), as the disk tier will do. Cache sizes are shares of the working set (the
// bytes of all distinct objects in the trace); hit ratios cover the whole trace, cold start
// included (the same for both policies).
import { parseArgs } from 'node:util';
import { Lru, S3Fifo, type EvictionPolicy } from '../src/store/disk/eviction.js';
import { prng } from './prng.js';

const USAGE = `npx tsx bench/eviction.ts [options]
  --titles N        titles in the catalogue (1000)
  --alpha A         Zipf exponent of title popularity (0.9)
  --seed S          PRNG seed (1)
  --sizes P,P,...   cache sizes in % of the working set (1,5,10,25)
  --requests N      requests in the trace (4000000)
  --viewers N       concurrent sessions (500)
  --scan-share F    share of sessions that walk a whole rendition (0.02)`;

const { values: flags } = parseArgs({
  options: {
    titles: { type: 'string', default: '1000' },
    alpha: { type: 'string', default: '0.9' },
    seed: { type: 'string', default: '1' },
    sizes: { type: 'string', default: '1,5,10,25' },
    requests: { type: 'string', default: '4000000' },
    viewers: { type: 'string', default: '500' },
    'scan-share': { type: 'string', default: '0.02' },
    help: { type: 'boolean', default: false },
  },
});
if (flags.help) {
  console.log(USAGE);
  process.exit(0);
}

function num(name: string, text: string, min: number, integer = false): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    console.error(`--${name}: not a number ≥ ${min}${integer ? ' (whole)' : ''}: '${text}'\n${USAGE}`);
    process.exit(2);
  }
  return n;
}

const TITLES = num('titles', flags.titles, 1, true);
const ALPHA = num('alpha', flags.alpha, 0);
const SEED = num('seed', flags.seed, 0, true);
const SIZES = flags.sizes.split(',').map((p) => num('sizes', p, Number.MIN_VALUE));
const REQUESTS = num('requests', flags.requests, 1, true);
const VIEWERS = num('viewers', flags.viewers, 1, true);
const SCAN_SHARE = num('scan-share', flags['scan-share'], 0);

const SEGMENT_SECONDS = 6;
const MBITS = [1.6, 2.8, 4.0, 5.2];
const STARTUP_SEGMENTS = 2;
const RESUME_SHARE = 0.2;
const BROWSE_SHARE = 0.5;
const BROWSE_MEAN_S = 2 * 60;
const WATCH_MEAN_S = 60 * 60;

const rand = prng(SEED);
const exponential = (mean: number) => -mean * Math.log(1 - rand());

// ---- catalogue: dense object ids, per title its segments by rendition, then its playlists ----
const segmentsOf = new Int32Array(TITLES);
const firstId = new Int32Array(TITLES + 1);
for (let t = 0; t < TITLES; t++) {
  segmentsOf[t] = Math.round((20 + rand() * 100) * (60 / SEGMENT_SECONDS));
  firstId[t + 1] = firstId[t]! + MBITS.length * segmentsOf[t]! + MBITS.length + 1;
}
const segmentId = (t: number, r: number, s: number) => firstId[t]! + r * segmentsOf[t]! + s;
const playlistId = (t: number, r: number) => firstId[t]! + MBITS.length * segmentsOf[t]! + r;
const masterId = (t: number) => firstId[t]! + MBITS.length * segmentsOf[t]! + MBITS.length;

const objectSize = new Int32Array(firstId[TITLES]!);
for (let t = 0; t < TITLES; t++) {
  for (let r = 0; r < MBITS.length; r++) {
    const mean = (MBITS[r]! * 1e6 * SEGMENT_SECONDS) / 8;
    for (let s = 0; s < segmentsOf[t]!; s++) objectSize[segmentId(t, r, s)] = Math.round(mean * (0.8 + 0.4 * rand()));
    objectSize[playlistId(t, r)] = 200 + 60 * segmentsOf[t]!; // header, then an #EXTINF line and a URI per segment
  }
  objectSize[masterId(t)] = 200 + 150 * MBITS.length;
}

// ---- sessions ----
const zipfCdf = new Float64Array(TITLES);
for (let t = 0, sum = 0; t < TITLES; t++) zipfCdf[t] = sum += 1 / (t + 1) ** ALPHA;
function zipfTitle(): number {
  const u = rand() * zipfCdf[TITLES - 1]!;
  let lo = 0;
  let hi = TITLES - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (zipfCdf[mid]! < u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const stats = { views: 0, completed: 0, scans: 0 };

function* view(t: number): Generator<number> {
  stats.views++;
  const segments = segmentsOf[t]!;
  const rendition = Math.floor(rand() * MBITS.length);
  const start = rand() < RESUME_SHARE ? Math.floor(rand() * segments) : 0;
  const watched = Math.ceil(exponential(rand() < BROWSE_SHARE ? BROWSE_MEAN_S : WATCH_MEAN_S) / SEGMENT_SECONDS);
  const end = Math.min(segments, start + watched);
  if (end === segments) stats.completed++;
  yield masterId(t);
  yield playlistId(t, 0);
  let s = start;
  for (; s < Math.min(end, start + STARTUP_SEGMENTS); s++) yield segmentId(t, 0, s);
  if (rendition !== 0) yield playlistId(t, rendition);
  for (; s < end; s++) yield segmentId(t, rendition, s);
}

function* scan(t: number): Generator<number> {
  stats.scans++;
  const rendition = Math.floor(rand() * MBITS.length);
  yield playlistId(t, rendition);
  for (let s = 0; s < segmentsOf[t]!; s++) yield segmentId(t, rendition, s);
}

const session = () => (rand() < SCAN_SHARE ? scan(Math.floor(rand() * TITLES)) : view(zipfTitle()));

// ---- the trace ----
const keys = new Int32Array(REQUESTS);
const sizes = new Int32Array(REQUESTS);
const active = Array.from({ length: VIEWERS }, session);
for (let i = 0; i < REQUESTS; ) {
  const v = Math.floor(rand() * VIEWERS);
  const next = active[v]!.next();
  if (next.done) {
    active[v] = session();
    continue;
  }
  keys[i] = next.value;
  sizes[i] = objectSize[next.value]!;
  i++;
}

const requestsOf = new Uint32Array(objectSize.length);
let workingSet = 0;
let objects = 0;
let requestedBytes = 0;
for (let i = 0; i < REQUESTS; i++) {
  const key = keys[i]!;
  if (requestsOf[key]! === 0) {
    workingSet += sizes[i]!;
    objects++;
  }
  requestsOf[key]!++;
  requestedBytes += sizes[i]!;
}
let oneHit = 0;
for (const n of requestsOf) if (n === 1) oneHit++;

const GB = 1e9;
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
console.log(`titles ${TITLES}, alpha ${ALPHA}, seed ${SEED}, ${REQUESTS} requests from ${VIEWERS} concurrent sessions`);
console.log(
  `views ${stats.views} (${pct(stats.completed / stats.views)} to the end), scans ${stats.scans}; ` +
    `catalogue ${(objectSize.reduce((a, b) => a + b, 0) / GB).toFixed(0)} GB; requested ${(requestedBytes / GB).toFixed(0)} GB`,
);
console.log(
  `working set ${(workingSet / GB).toFixed(0)} GB in ${objects} objects, ${pct(oneHit / objects)} of them requested once`,
);

// ---- replay ----
interface Result {
  byteHit: number;
  objectHit: number;
  requestsPerSec: number;
}

function replay(policy: EvictionPolicy<number>): Result {
  let hits = 0;
  let hitBytes = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < REQUESTS; i++) {
    const key = keys[i]!;
    const size = sizes[i]!;
    if (policy.has(key)) {
      policy.touch(key);
      hits++;
      hitBytes += size;
    } else if (size <= policy.capacity) { // bigger than the whole cache: served, never stored
      policy.evict(size);
      policy.insert(key, size);
    }
  }
  const sec = Number(process.hrtime.bigint() - t0) / 1e9;
  return { byteHit: hitBytes / requestedBytes, objectHit: hits / REQUESTS, requestsPerSec: REQUESTS / sec };
}

const rows: string[] = [];
const replayRates: { s3: number[]; lru: number[] } = { s3: [], lru: [] };
for (const share of SIZES) {
  const capacity = Math.floor((workingSet * share) / 100);
  const s3 = replay(new S3Fifo(capacity));
  const lru = replay(new Lru(capacity));
  replayRates.s3.push(s3.requestsPerSec);
  replayRates.lru.push(lru.requestsPerSec);
  // The paper's measure: how much of LRU's miss traffic S3-FIFO saves.
  const saved = (s3.byteHit - lru.byteHit) / (1 - lru.byteHit);
  rows.push(
    `| ${share}% | ${(capacity / GB).toFixed(1)} GB | ${pct(s3.byteHit)} | ${pct(lru.byteHit)} | ` +
      `${pct(s3.objectHit)} | ${pct(lru.objectHit)} | ${pct(saved)} |`,
  );
}
console.log('\n| cache (of working set) | bytes | byte hits S3-FIFO | byte hits LRU | object hits S3-FIFO | object hits LRU | miss bytes avoided vs LRU |');
console.log('|---|---|---|---|---|---|---|');
for (const row of rows) console.log(row);

// ---- cost per operation ----
/**
 * Operations per second of `fn(i)` for i = 0, 1, …: the best of three windows of at least
 * `minMs`, since other work on the machine only ever slows a window down.
 */
function opsPerSec(fn: (i: number) => void, minMs = 400): number {
  let n = 0;
  for (; n < 100_000; n++) fn(n); // warm-up
  let best = 0;
  for (let round = 0; round < 3; round++) {
    const from = n;
    const t0 = process.hrtime.bigint();
    let ms = 0;
    do {
      for (const end = n + 100_000; n < end; n++) fn(n);
      ms = Number(process.hrtime.bigint() - t0) / 1e6;
    } while (ms < minMs);
    best = Math.max(best, ((n - from) / ms) * 1000);
  }
  return best;
}

const HELD = 100_000;
function full(make: (capacity: number) => EvictionPolicy<number>): EvictionPolicy<number> {
  const p = make(HELD);
  for (let k = 0; k < HELD; k++) p.insert(k, 1);
  return p;
}
const hot = Int32Array.from({ length: 1 << 20 }, () => Math.floor(rand() * HELD));
const mops = (x: number) => `${(x / 1e6).toFixed(1)} M`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

const costs: [string, (c: number) => EvictionPolicy<number>][] = [
  ['S3-FIFO', (c) => new S3Fifo(c)],
  ['LRU', (c) => new Lru(c)],
];
console.log(`\n| ops/s (${HELD} keys held, numeric keys) | touch() | evict() + insert() of a new key | trace replay, requests/s (median over sizes) |`);
console.log('|---|---|---|---|');
for (const [name, make] of costs) {
  const touched = full(make);
  const touch = opsPerSec((i) => touched.touch(hot[i & (hot.length - 1)]!));
  const filled = full(make);
  const miss = opsPerSec((i) => {
    filled.evict(1);
    filled.insert(HELD + i, 1);
  });
  const rate = median(name === 'LRU' ? replayRates.lru : replayRates.s3);
  console.log(`| ${name} | ${mops(touch)} | ${mops(miss)} | ${mops(rate)} |`);
}
