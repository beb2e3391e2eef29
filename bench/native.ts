// Native layer micro-benchmarks. Run: npx tsx bench/native.ts   (~20-30 s; SEGD_NATIVE=0 for the fallback)
//
// The comparisons (the table CRC32C, a pread loop) are addon exports compiled only with
// `--features bench`. So this bench builds that variant first (node native/build.mjs --bench,
// into native/target/bench/, beside the default build, which it leaves alone) and loads it
// through SEGD_NATIVE_PATH, unless SEGD_NATIVE_PATH is already set or SEGD_NATIVE=0. The segd
// code it measures (crc32c, mappings) is the same in both builds. Without cargo it runs on the
// default addon and leaves those rows out.
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as zlib from 'node:zlib';
import { crc32cTable } from '../src/native/fallback.js';

if (process.env.SEGD_NATIVE_PATH === undefined && process.env.SEGD_NATIVE !== '0') {
  const build = spawnSync(process.execPath, [fileURLToPath(new URL('../native/build.mjs', import.meta.url)), '--bench'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (build.status === 0) process.env.SEGD_NATIVE_PATH = build.stdout.trim();
  else console.warn('bench: the --features bench addon did not build; measuring the default addon without the comparison rows');
}
// Imported only now: the module picks its addon when it loads.
const { native, nativeDescription } = await import('../src/native/index.js');

const MiB = 1024 * 1024;
const SIZE = 64 * MiB;

function gbps(bytes: number, fn: () => void, minMs = 700): number {
  fn(); // warm-up
  let iters = 0;
  const t0 = process.hrtime.bigint();
  let el = 0;
  do {
    fn();
    iters++;
    el = Number(process.hrtime.bigint() - t0) / 1e6;
  } while (el < minMs);
  return (bytes * iters) / (el / 1000) / 1e9;
}

/**
 * Mean µs per call. Yields to the event loop between batches (outside the timed part): Node
 * runs the finalizers of external buffers from the loop, so a loop that never yields would keep
 * every mapping it created until the process runs out of VMAs (vm.max_map_count).
 */
async function usPer(fn: (i: number) => void, minMs = 400): Promise<number> {
  for (let i = 0; i < 50; i++) fn(i);
  let iters = 0;
  let el = 0;
  do {
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < 100; k++) fn(iters++);
    el += Number(process.hrtime.bigint() - t0) / 1e6;
    await new Promise((r) => setImmediate(r));
  } while (el < minMs);
  return (el * 1000) / iters;
}

console.log(nativeDescription());
console.log(`kind=${native.kind} crcImpl=${native.crcImpl} node=${process.version}`);

const data = crypto.randomBytes(SIZE);
const dst = Buffer.allocUnsafe(SIZE);
const rows: [string, string][] = [];
let sink = 0;
const row = (name: string, v: number, unit = 'GB/s') => {
  rows.push([name, `${v.toFixed(unit === 'GB/s' ? 2 : 1)} ${unit}`]);
  console.log(`${name.padEnd(44)} ${v.toFixed(unit === 'GB/s' ? 2 : 1).padStart(8)} ${unit}`);
};

console.log(`\n-- throughput on ${SIZE / MiB} MiB --`);
const memcpy = gbps(SIZE, () => void data.copy(dst));
row('Buffer.copy (memcpy)', memcpy);
const simd = gbps(SIZE, () => void (sink ^= native.crc32c(data)));
row(`native.crc32c (${native.crcImpl})`, simd);
console.log(`  = ${(simd / memcpy).toFixed(2)}x memcpy`);
const bench = native.bench;
if (bench !== undefined) row('native.bench.crc32cPortable (table)', gbps(SIZE, () => void (sink ^= bench.crc32cPortable(data))));
const small = data.subarray(0, 8 * MiB);
row('TS fallback crc32cTable (8 MiB)', gbps(small.length, () => void (sink ^= crc32cTable(small)), 400));
const zcrc = (zlib as unknown as { crc32?: (d: Uint8Array) => number }).crc32;
if (typeof zcrc === 'function') row('zlib.crc32 (CRC-32, not C)', gbps(SIZE, () => void (sink ^= zcrc(data))));
else console.log('zlib.crc32: not available in this Node');
row('crypto sha256', gbps(SIZE, () => void crypto.createHash('sha256').update(data).digest(), 500));

// ---- range serving cost ----
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segd-bench-'));
const file = path.join(dir, 'seg.bin');
fs.writeFileSync(file, data);
const fd = fs.openSync(file, 'r');
const held = native.map(file);
held.warm();
// The checksum a cold load computes: the same CRC, reading a MAP_SHARED mapping.
row('mapping.crc32c (held mapping, page cache)', gbps(SIZE, () => void (sink ^= held.crc32c())));
console.log('\n-- per range (file in page cache) --');
for (const size of [4 * 1024, 256 * 1024, MiB]) {
  const slots = Math.floor(SIZE / size) - 1;
  const pre = Buffer.allocUnsafe(size);
  const off = (i: number) => ((i * 7919) % slots) * size + 13;
  const label = size >= MiB ? `${size / MiB} MiB` : `${size / 1024} KiB`;
  row(`${label}: mapping.slice (held mapping)`, await usPer((i) => void (sink ^= held.slice(off(i), size).length)), 'us');
  row(`${label}: mapping.slice + touch 1 byte/page`, await usPer((i) => {
    const s = held.slice(off(i), size);
    for (let p = 0; p < size; p += 4096) sink ^= s[p]!;
  }), 'us');
  row(`${label}: fs.readSync into preallocated`, await usPer((i) => void (sink ^= fs.readSync(fd, pre, 0, size, off(i)))), 'us');
  row(`${label}: native.readAt into preallocated`, await usPer((i) => void (sink ^= native.readAt(fd, pre, off(i)))), 'us');
  row(`${label}: map-per-request (map+slice+close)`, await usPer((i) => {
    const m = native.map(file);
    sink ^= m.slice(off(i), size).length;
    m.close();
  }), 'us');
}
held.close();
fs.closeSync(fd);
fs.rmSync(dir, { recursive: true, force: true });
if (sink === 0.5) console.log(sink);
