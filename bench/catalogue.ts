/**
 * Catalogue indexing benchmark: `segd index` throughput on a synthetic HLS library versus
 * `sha256sum` and a plain single-threaded CRC32C read loop over the same files.
 *
 *   npx tsx bench/catalogue.ts [--size 2GB] [--runs 3] [--threads N] [--seg 2MB] [--dir PATH] [--keep]
 *   node dist/bench/catalogue.js …
 *
 * The library is generated once (random bytes, 2 MB fMP4-style segments under a few renditions,
 * with playlists), then every method runs --runs times on a warm page cache (the data fits in
 * RAM; dropping caches would need root and would disturb other work on the machine).
 * Reported: median GB/s (1 GB = 1e9 bytes) and the min–max spread over the runs.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomFillSync, type Hash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { crcImplementation } from '../src/catalogue/crc.js';
import { indexTree } from '../src/catalogue/indexer.js';
import { catalogueThreads } from '../src/catalogue/pool.js';
import { walkTree } from '../src/catalogue/walk.js';
import { native } from '../src/native/index.js';
import { parseSize } from '../src/config/size.js'; // 2GB = 2e9 bytes, 2GiB = 2^31


function args(argv: string[]) {
  const o = { size: 2e9, runs: 3, threads: catalogueThreads(), seg: 2e6, dir: '', keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = () => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${a} needs a value`);
      return x;
    };
    if (a === '--size') o.size = parseSize(v());
    else if (a === '--runs') o.runs = Math.max(1, Number(v()));
    else if (a === '--threads') o.threads = Math.max(1, Number(v()));
    else if (a === '--seg') o.seg = parseSize(v());
    else if (a === '--dir') o.dir = v();
    else if (a === '--keep') o.keep = true;
    else if (a === '--help' || a === '-h') {
      console.log('usage: bench/catalogue.ts [--size 2GB] [--runs 3] [--threads N] [--seg 2MB] [--dir PATH] [--keep]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

/** 4 renditions × N segments of ~segBytes (last one shorter), plus media + master playlists. */
function generate(root: string, total: number, segBytes: number): void {
  const renditions = ['v1080', 'v720', 'v480', 'a128'];
  const perRendition = Math.ceil(total / renditions.length);
  const buf = Buffer.allocUnsafe(Math.min(segBytes, 8 << 20));
  const master = ['#EXTM3U', '#EXT-X-VERSION:7', '#EXT-X-INDEPENDENT-SEGMENTS'];
  for (const [ri, r] of renditions.entries()) {
    const dir = path.join(root, 'title', r);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'init.mp4'), randomFillSync(Buffer.allocUnsafe(800)));
    const lines = ['#EXTM3U', '#EXT-X-VERSION:7', '#EXT-X-TARGETDURATION:4', '#EXT-X-PLAYLIST-TYPE:VOD', '#EXT-X-MAP:URI="init.mp4"'];
    let left = perRendition;
    for (let i = 0; left > 0; i++) {
      const n = Math.min(segBytes, left);
      const name = `seg${String(i).padStart(5, '0')}.m4s`;
      const fd = openSync(path.join(dir, name), 'w');
      for (let w = 0; w < n; ) {
        const k = Math.min(buf.length, n - w);
        randomFillSync(buf, 0, k);
        w += k;
        let off = 0;
        while (off < k) off += writeSync(fd, buf, off, k - off);
      }
      closeSync(fd);
      lines.push('#EXTINF:4.000,', name);
      left -= n;
    }
    lines.push('#EXT-X-ENDLIST', '');
    writeFileSync(path.join(dir, 'index.m3u8'), lines.join('\n'));
    master.push(
      ri === 3
        ? `#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="en",DEFAULT=YES,URI="${r}/index.m3u8"`
        : `#EXT-X-STREAM-INF:BANDWIDTH=${(3 - ri) * 2_000_000},CODECS="avc1.640028,mp4a.40.2",AUDIO="a"\n${r}/index.m3u8`,
    );
  }
  // EXT-X-MEDIA must precede the variants that reference its group
  const media = master.filter((l) => l.startsWith('#EXT-X-MEDIA'));
  const rest = master.filter((l) => !l.startsWith('#EXT-X-MEDIA'));
  writeFileSync(path.join(root, 'title', 'master.m3u8'), [...rest.slice(0, 3), ...media, ...rest.slice(3), ''].join('\n'));
}

interface Row {
  method: string;
  threads: string;
  runs: number[]; // seconds
  bytes: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function time(fn: () => unknown | Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

function readLoop(files: string[], onChunk: (b: Buffer) => void, onFile?: () => void): number {
  const buf = Buffer.allocUnsafe(256 * 1024);
  let total = 0;
  for (const f of files) {
    onFile?.();
    const fd = openSync(f, 'r');
    try {
      for (let pos = 0; ; ) {
        const n = readSync(fd, buf, 0, buf.length, pos);
        if (n === 0) break;
        onChunk(n === buf.length ? buf : buf.subarray(0, n));
        pos += n;
      }
    } finally {
      closeSync(fd);
    }
    total += 1;
  }
  return total;
}

async function main(): Promise<void> {
  const o = args(process.argv.slice(2));
  const root = o.dir || path.join(os.tmpdir(), `segd-bench-catalogue-${o.size}`);
  const marker = path.join(root, '.bench-complete');
  if (!existsSync(marker)) {
    rmSync(root, { recursive: true, force: true });
    mkdirSync(root, { recursive: true });
    process.stderr.write(`generating ${(o.size / 1e9).toFixed(2)} GB synthetic library in ${root} …\n`);
    const g = await time(() => generate(root, o.size, o.seg));
    writeFileSync(marker, '');
    process.stderr.write(`generated in ${g.toFixed(1)} s\n`);
  }
  const walk = await walkTree(root);
  const files = walk.files.map((f) => f.abs);
  const bytes = walk.files.reduce((s, f) => s + f.size, 0);

  // warm the page cache once so every method starts from the same state
  readLoop(files, () => {});

  const rows: Row[] = [];
  const add = (method: string, threads: string): Row => {
    const r: Row = { method, threads, runs: [], bytes };
    rows.push(r);
    return r;
  };
  const idx = add('segd index, full (CRC32C + SHA-256, pool)', String(o.threads));
  const reidx = add('segd index, incremental, nothing changed', String(o.threads));
  const crc = add(`CRC32C read loop (native.crc32c, ${native.kind})`, '1');
  const sha = add('SHA-256 read loop (node:crypto)', '1');
  const sum1 = add('sha256sum', '1');
  const sumN = add(`sha256sum via xargs -P${o.threads}`, String(o.threads));

  const phases: Array<{ walk: number; pool: number; validate: number; write: number }> = [];
  const sha256sum = (parallel: number) => {
    const r = spawnSync('xargs', ['-0', '-n', String(Math.ceil(files.length / parallel / 4) || 1), '-P', String(parallel), 'sha256sum'], {
      input: files.join('\0'),
      stdio: ['pipe', 'ignore', 'inherit'],
      maxBuffer: 1 << 30,
    });
    if (r.status !== 0) throw new Error(`sha256sum failed (${r.status})`);
  };

  for (let run = 0; run < o.runs; run++) {
    rmSync(path.join(root, '.segd'), { recursive: true, force: true });
    let hashed = 0;
    idx.runs.push(await time(async () => {
      const r = await indexTree(root, { threads: o.threads, progress: false });
      hashed = r.stats.bytesHashed;
      phases.push(r.stats.phases);
      if (!r.ok) throw new Error(`synthetic library did not validate: ${JSON.stringify(r.errors.slice(0, 3))}`);
    }));
    if (hashed !== bytes) throw new Error(`indexed ${hashed} bytes, expected ${bytes}`);
    reidx.runs.push(await time(() => indexTree(root, { threads: o.threads, progress: false, racyWindowMs: 0 })));
    crc.runs.push(await time(() => {
      let c = 0;
      readLoop(files, (b) => (c = native.crc32c(b, c)));
    }));
    sha.runs.push(await time(() => {
      let h: Hash | undefined;
      let digests = 0;
      const done = () => {
        if (h) digests += h.digest().length;
        h = createHash('sha256');
      };
      readLoop(files, (b) => h!.update(b), done);
      done();
      if (digests !== files.length * 32) throw new Error('sha loop');
    }));
    sum1.runs.push(await time(() => sha256sum(1)));
    sumN.runs.push(await time(() => sha256sum(o.threads)));
  }

  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(`\nsegd catalogue benchmark — ${files.length} files, ${(bytes / 1e9).toFixed(3)} GB, ${o.runs} run(s), warm page cache`);
  console.log(`${cpu}, ${os.availableParallelism()} CPUs; node ${process.version}${import.meta.url.endsWith('.ts') ? ' (tsx: workers compile TS at start)' : ''}; crc32c ${crcImplementation()}\n`);
  const head = ['method', 'threads', 'median s', 'GB/s (median)', 'GB/s min–max'];
  const body = rows.map((r) => {
    const med = median(r.runs);
    const gb = r.bytes / 1e9;
    const rates = r.runs.map((s) => gb / s);
    const isNoop = r === reidx;
    return [
      r.method,
      r.threads,
      med.toFixed(3),
      isNoop ? `(${(r.runs.length ? med * 1000 : 0).toFixed(0)} ms, 0 bytes hashed)` : (gb / med).toFixed(2),
      isNoop ? '' : `${Math.min(...rates).toFixed(2)}–${Math.max(...rates).toFixed(2)}`,
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const b of body) console.log(line(b));
  console.log('\nsegd index times include walking, starting the worker pool, parsing/validating playlists and writing the manifest.');
  const ph = (k: 'walk' | 'pool' | 'validate' | 'write') => median(phases.map((p) => p[k]));
  console.log(
    `segd index phases (median s): walk ${ph('walk').toFixed(3)}, pool start + hash + parse ${ph('pool').toFixed(3)} ` +
      `(${(bytes / 1e9 / ph('pool')).toFixed(2)} GB/s), validate ${ph('validate').toFixed(3)}, write manifest ${ph('write').toFixed(3)}`,
  );
  console.log(`load average at end: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} (other work on the machine inflates every figure)`);

  if (!o.keep && !o.dir) rmSync(root, { recursive: true, force: true });
  else statSync(root);
}

await main();
