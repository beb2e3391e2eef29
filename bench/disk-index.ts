// How long an edge takes to rebuild its disk index at start: `npx tsx bench/disk-index.ts [--objects 100000]`.
// Writes N small cache objects (body + trailer, named by their key's hash) into a temporary
// directory, then times DiskCache.open(), which reads the directory alone (names and sizes),
// first with the page cache warm, then after dropping it when allowed (root).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiskCache } from '../src/store/disk/cache.js';
import { encodeTrailer, keyHash, objectPath } from '../src/store/disk/format.js';

const arg = process.argv.indexOf('--objects');
const n = arg > 0 ? Number(process.argv[arg + 1]) : 100_000;
const root = mkdtempSync(join(tmpdir(), 'segd-disk-index-'));
try {
  const body = Buffer.alloc(1024, 7);
  for (let d = 0; d < 256; d++) mkdirSync(join(root, 'data', d.toString(16).padStart(2, '0')), { recursive: true });
  for (let i = 0; i < n; i++) {
    const key = `title${i % 997}/seg${i}.ts`;
    const trailer = encodeTrailer({ v: 1, key, length: body.length, crc32c: 0, requestTime: 0, responseTime: 0, headers: { 'content-type': 'video/mp2t' } });
    writeFileSync(objectPath(root, keyHash(key)), Buffer.concat([body, trailer]));
  }
  const time = async (label: string): Promise<void> => {
    const t0 = performance.now();
    const cache = await DiskCache.open(root, 1024 ** 4);
    console.log(`${label}: ${cache.objects} objects indexed in ${Math.round(performance.now() - t0)} ms`);
  };
  await time('page cache warm');
  spawnSync('sync');
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3');
    await time('page cache dropped');
  } catch {
    console.log('page cache dropped: skipped (needs root)');
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
