// Native layer (src/native/index.ts): addon vs pure-TS fallback, real temp files, no mocks.
// Addon-only tests are skipped, with the reason on stderr, when the fallback is active.
// Runs against whichever implementation is active (SEGD_NATIVE=0 forces the fallback).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import type { AddressInfo } from 'node:net';
import { addonFileName, native, nativeDescription } from '../src/native/index.js';
import { crc32cTable, fallback } from '../src/native/fallback.js';
import { mappingsOf, skipping } from './helpers/native.js';

let dir: string;
let bigPath: string;
let big: Buffer;
let emptyPath: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segd-native-'));
  big = crypto.randomBytes(3 * 1024 * 1024 + 12345);
  bigPath = path.join(dir, 'big.bin');
  fs.writeFileSync(bigPath, big);
  emptyPath = path.join(dir, 'empty.bin');
  fs.writeFileSync(emptyPath, '');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function gcFn(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

async function settle(gc: () => void, until: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    gc();
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 5));
    if (until()) return;
  }
}

/** Set when the active implementation is the TypeScript fallback: why an addon-only test is skipped. */
const onFallback = native.kind === 'fallback' ? `the active byte path is the TypeScript fallback (${nativeDescription()})` : undefined;

describe('implementation', () => {
  it('reports what is active: the addon when it is built, unless SEGD_NATIVE=0', () => {
    expect(nativeDescription()).toMatch(/^segd native: /);
    const built = fs.existsSync(new URL(`../native/${addonFileName()}`, import.meta.url));
    expect(native.kind).toBe(process.env.SEGD_NATIVE === '0' || !built ? 'fallback' : 'addon');
    expect(native.crcImpl).toEqual(native.kind === 'fallback' ? 'ts-table' : expect.stringMatching(/^(sse4\.2-3way|table-slice8)$/));
    expect(native.bench).toBeUndefined(); // the default build has no bench exports
  });
});

describe('crc32c', () => {
  const impls: [string, (d: Uint8Array, s?: number) => number][] = [
    ['native.crc32c', native.crc32c],
    ['fallback', fallback.crc32c],
  ];

  it('standard vector', () => {
    for (const [, f] of impls) {
      expect(f(Buffer.from('123456789'))).toBe(0xe3069283);
      expect(f(new Uint8Array(0))).toBe(0);
      expect(f(new Uint8Array(0), 0x12345678)).toBe(0x12345678);
    }
  });

  // The fallback's crc32c is crc32cTable itself: comparing them would compare a function with itself.
  it.skipIf(skipping('addon CRC against the TS table', onFallback))('every length 0..4096 at every alignment agrees with the TS table', () => {
    const data = crypto.randomBytes(4096 + 16);
    for (let len = 0; len <= 4096; len++) {
      for (let off = 0; off < 8; off++) {
        const v = data.subarray(off, off + len);
        const want = crc32cTable(v);
        const got = native.crc32c(v);
        if (got !== want) throw new Error(`len ${len} off ${off}: ${got} != ${want}`);
      }
    }
  });

  it.skipIf(skipping('addon CRC against the TS table', onFallback))('large sizes agree with the TS table', () => {
    for (const n of [1024 * 1024 + 7, 8 * 1024 * 1024, 3 * 8192 * 3 + 5]) {
      const d = crypto.randomBytes(n + 3).subarray(3);
      expect(native.crc32c(d)).toBe(crc32cTable(d));
    }
  });

  it('chained seeds stream: crc32c(b, crc32c(a)) is the CRC of a and b', () => {
    const n = 3 * 8192 * 3 + 5;
    const d = crypto.randomBytes(n);
    const cuts = [0, 1, 777, 24576, 100_000, n >> 1, n - 1, n].filter((c) => c <= n).sort((x, y) => x - y);
    let crc = 0;
    for (let i = 1; i < cuts.length; i++) crc = native.crc32c(d.subarray(cuts[i - 1], cuts[i]), crc);
    expect(crc).toBe(native.crc32c(d));
  });

  it('reads a view of a wider typed array by its bytes, rejects bad seeds', () => {
    const u32 = new Uint32Array([1, 2, 3, 4]); // little-endian: 01 00 00 00 02 00 00 00 ...
    expect(native.crc32c(new Uint8Array(u32.buffer))).toBe(0x72f989ee);
    expect(() => native.crc32c(Buffer.from('x'), -1)).toThrow(RangeError);
  });

  it('mapping.crc32c matches the buffer crc with offsets and seeds', () => {
    const m = native.map(bigPath);
    try {
      expect(m.crc32c()).toBe(crc32cTable(big));
      expect(m.crc32c(13, 100_003)).toBe(crc32cTable(big.subarray(13, 100_016)));
      expect(m.crc32c(5, undefined, 77)).toBe(crc32cTable(big.subarray(5), 77));
      expect(m.crc32c(big.length, 0)).toBe(0);
      const s = m.crc32c(0, 1000);
      expect(m.crc32c(1000, 5000, s)).toBe(crc32cTable(big.subarray(0, 6000)));
      expect(() => m.crc32c(0, big.length + 1)).toThrow(RangeError);
    } finally {
      m.close();
    }
  });
});

describe('alignedBuffer', () => {
  it.skipIf(skipping('alignedBuffer', onFallback))('is zeroed, of the size asked, and takes an O_DIRECT read (a page-aligned address); a size of 0 or over 1 GiB is refused', (ctx) => {
    const b = native.alignedBuffer(1 << 20)!;
    expect(b.length).toBe(1 << 20);
    expect(b.every((x) => x === 0)).toBe(true);
    expect(() => native.alignedBuffer(0)).toThrow(RangeError);
    expect(() => native.alignedBuffer(2 ** 30 + 1)).toThrow(RangeError);
    let fd: number;
    try {
      fd = fs.openSync(bigPath, fs.constants.O_RDONLY | fs.constants.O_DIRECT);
    } catch (e) {
      return ctx.skip(`no O_DIRECT in ${dir} (${(e as NodeJS.ErrnoException).code})`);
    }
    try {
      // Node's own Buffers are malloc'd: such a read into one is refused (EINVAL)
      expect(fs.readSync(fd, b, 4096, 8192, 1 << 20)).toBe(8192);
      expect(b.subarray(4096, 4096 + 8192).equals(big.subarray(1 << 20, (1 << 20) + 8192))).toBe(true);
    } finally {
      fs.closeSync(fd);
    }
  });

  it.skipIf(skipping('alignedBuffer', onFallback))('costs memory only where it is written: 64 buffers of 1 MiB, untouched, add little to the resident set', () => {
    const anon = (): number => Number(/^RssAnon:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;
    const before = anon();
    const held = Array.from({ length: 64 }, () => native.alignedBuffer(1 << 20)!);
    expect(anon() - before).toBeLessThan(16 << 20);
    held[0]!.fill(1);
    expect(held.length).toBe(64);
  });

  it('is undefined from the fallback, which cannot place a Buffer', () => {
    expect(fallback.alignedBuffer(4096)).toBeUndefined();
  });
});

describe('readAt', () => {
  it('reads fully, short at EOF, 0 past EOF, into subarrays; errors shaped like fs errors', () => {
    const p = path.join(dir, 'r.bin');
    const data = crypto.randomBytes(1000);
    fs.writeFileSync(p, data);
    const fd = fs.openSync(p, 'r');
    try {
      const buf = Buffer.alloc(300);
      expect(native.readAt(fd, buf, 0)).toBe(300);
      expect(buf.equals(data.subarray(0, 300))).toBe(true);
      expect(native.readAt(fd, buf, 900)).toBe(100);
      expect(buf.subarray(0, 100).equals(data.subarray(900))).toBe(true);
      expect(native.readAt(fd, buf, 1000)).toBe(0);
      expect(native.readAt(fd, buf, 5000)).toBe(0);
      const outer = Buffer.alloc(64, 0xaa);
      expect(native.readAt(fd, outer.subarray(8, 24), 17)).toBe(16);
      expect(outer.subarray(8, 24).equals(data.subarray(17, 33))).toBe(true);
      expect(outer[7]).toBe(0xaa);
      expect(outer[24]).toBe(0xaa);
      expect(native.readAt(fd, new Uint8Array(0), 0)).toBe(0);
      const whole = Buffer.alloc(4096);
      expect(native.readAt(fd, whole, 0)).toBe(1000);
    } finally {
      fs.closeSync(fd);
    }
    let err: NodeJS.ErrnoException | undefined;
    try {
      native.readAt(fd, Buffer.alloc(10), 0); // closed fd
    } catch (e) {
      err = e as NodeJS.ErrnoException;
    }
    expect(err?.code).toBe('EBADF');
  });

  it.skipIf(skipping('preadv2(RWF_NOWAIT)', onFallback))('nowait: stops at bytes not in the page cache, reads them once they are', (ctx) => {
    // Written with O_DIRECT, the file's bytes are on the disk and not in the page cache.
    const p = path.join(dir, 'nowait.bin');
    const dd = spawnSync('dd', ['if=/dev/urandom', `of=${p}`, 'bs=1M', 'count=4', 'oflag=direct'], { encoding: 'utf8' });
    if (dd.status !== 0) return ctx.skip(`O_DIRECT writes are refused here (${dd.stderr.trim()})`);
    const fd = fs.openSync(p, 'r');
    try {
      const buf = Buffer.alloc(4 * 1024 * 1024);
      expect(native.readAt(fd, buf, 0, true)).toBe(0);
      expect(native.readAt(fd, buf, 0)).toBe(buf.length);
      const copy = Buffer.alloc(buf.length);
      expect(native.readAt(fd, copy, 0, true)).toBe(buf.length);
      expect(copy.equals(buf)).toBe(true);
    } finally {
      fs.closeSync(fd);
    }
  });

  it.skipIf(skipping('preadv2(RWF_NOWAIT)', onFallback))('nowait: pages not in the page cache are not even started (no readahead on the calling thread)', async (ctx) => {
    // A RWF_NOWAIT read alone would allocate readahead pages for the missing range and start
    // their I/O before it returns EAGAIN; in a memory cgroup at its limit that allocation reclaims
    // on the event loop. cachestat(2) first means nothing is touched: the file stays uncached.
    const p = path.join(dir, 'untouched.bin');
    const dd = spawnSync('dd', ['if=/dev/urandom', `of=${p}`, 'bs=1M', 'count=2', 'oflag=direct'], { encoding: 'utf8' });
    if (dd.status !== 0) return ctx.skip(`O_DIRECT writes are refused here (${dd.stderr.trim()})`);
    const fd = fs.openSync(p, 'r');
    const m = native.map(p);
    try {
      expect(m.resident(0, 4096)).toBe(false);
      expect(native.readAt(fd, Buffer.alloc(256 * 1024), 0, true)).toBe(0);
      // Readahead's I/O, had it been started, completes within milliseconds on any disk.
      for (const until = Date.now() + 300; Date.now() < until; await new Promise((r) => setTimeout(r, 20))) expect(m.resident(0, 4096)).toBe(false);
    } finally {
      m.close();
      fs.closeSync(fd);
    }
  });

  it('nowait on the TypeScript fallback reads nothing: the caller reads off the event loop', () => {
    const fd = fs.openSync(bigPath, 'r');
    try {
      expect(fallback.readAt(fd, Buffer.alloc(100), 0, true)).toBe(0);
      const buf = Buffer.alloc(100);
      expect(fallback.readAt(fd, buf, 7)).toBe(100);
      expect(buf.equals(big.subarray(7, 107))).toBe(true);
    } finally {
      fs.closeSync(fd);
    }
  });
});

describe('map / slice', () => {
  it('slices equal readFileSync subarrays', () => {
    const m = native.map(bigPath);
    expect(m.size).toBe(big.length);
    const cases: [number, number][] = [
      [0, big.length],
      [1, 4095],
      [4095, 2],
      [4097, 65536 + 3],
      [big.length - 1, 1],
      [big.length, 0],
      [12345, 0],
      [1_000_001, 999_999],
    ];
    for (const [o, l] of cases) {
      const s = m.slice(o, l);
      expect(s.length).toBe(l);
      expect(Buffer.compare(s, big.subarray(o, o + l))).toBe(0);
    }
    // the same range twice (same external pointer) is fine
    expect(m.slice(10, 10).equals(m.slice(10, 10))).toBe(true);
    m.close();
  });

  it('out-of-range slices throw RangeError ERR_OUT_OF_RANGE', () => {
    const m = native.map(bigPath);
    const bad: [number, number][] = [
      [big.length + 1, 0],
      [0, big.length + 1],
      [big.length - 1, 2],
      [-1, 1],
      [1.5, 1],
      [0, Number.NaN],
    ];
    for (const [o, l] of bad) {
      let err: unknown;
      try {
        m.slice(o, l);
      } catch (e) {
        err = e;
      }
      expect(err, `${o},${l}`).toBeInstanceOf(RangeError);
      expect((err as NodeJS.ErrnoException).code).toBe('ERR_OUT_OF_RANGE');
    }
    m.close();
  });

  it('empty file maps with size 0', () => {
    const m = native.map(emptyPath);
    expect(m.size).toBe(0);
    expect(m.slice(0, 0).length).toBe(0);
    expect(m.crc32c()).toBe(0);
    expect(m.resident(0, 0)).toBe(true);
    m.warm();
    expect(() => m.slice(0, 1)).toThrow(RangeError);
    m.close();
  });

  it('missing file throws ENOENT shaped like fs errors', () => {
    const p = path.join(dir, 'nope.bin');
    let err: NodeJS.ErrnoException | undefined;
    try {
      native.map(p);
    } catch (e) {
      err = e as NodeJS.ErrnoException;
    }
    expect(err).toBeInstanceOf(Error);
    expect(err!.code).toBe('ENOENT');
    expect(err!.errno).toBe(-2);
    expect(err!.syscall).toBe('open');
    expect(err!.path).toBe(p);
    expect(err!.message).toBe(`ENOENT: no such file or directory, open '${p}'`);
  });

  it('a directory throws EISDIR shaped like fs errors', () => {
    let err: NodeJS.ErrnoException | undefined;
    try {
      native.map(dir);
    } catch (e) {
      err = e as NodeJS.ErrnoException;
    }
    expect(err).toBeInstanceOf(Error);
    expect(err!.code).toBe('EISDIR');
    expect(err!.errno).toBe(-21);
    expect(err!.message).toMatch(/^EISDIR: illegal operation on a directory, /);
  });

  it('warm/resident/poisoned/close are well behaved', () => {
    const m = native.map(bigPath);
    m.warm();
    expect(m.resident(0, big.length)).toBe(true);
    expect(m.resident(big.length - 1, 1)).toBe(true);
    expect(m.poisoned).toBe(false);
    const s = m.slice(100, 100);
    m.close();
    m.close(); // idempotent
    expect(s.equals(big.subarray(100, 200))).toBe(true);
    expect(() => m.slice(0, 1)).toThrow(/closed/);
  });

  it('transfer/adopt within a thread', () => {
    const m = native.map(bigPath);
    const token = structuredClone(m.transfer());
    m.close();
    const m2 = native.adopt(token);
    expect(m2.size).toBe(big.length);
    expect(m2.crc32c(7, 9)).toBe(crc32cTable(big.subarray(7, 16))); // (a slice would hold a reference until GC)
    m2.close();
  });

  it.skipIf(skipping('addon mapping lifetimes', onFallback))('addon: a token holds its own reference until adopted, and adopts once', () => {
    const file = path.join(dir, 'token.bin');
    fs.writeFileSync(file, big.subarray(0, 100_000));
    const m = native.map(file);
    expect(mappingsOf(file)).toBe(1);
    const token = structuredClone(m.transfer());
    m.close();
    expect(mappingsOf(file)).toBe(1); // the token's reference keeps it mapped
    const m2 = native.adopt(token);
    expect(m2.crc32c(7, 9)).toBe(crc32cTable(big.subarray(7, 16)));
    m2.close();
    expect(mappingsOf(file)).toBe(0);
    expect(() => native.adopt(token)).toThrow(/already adopted|unknown/);
  });
});

describe('lifetime under GC', () => {
  it.skipIf(skipping('addon mapping lifetimes', onFallback))('addon: thousands of mappings dropped without close() are all unmapped once collected', async () => {
    const gc = gcFn();
    const small = path.join(dir, 'small.bin');
    fs.writeFileSync(small, crypto.randomBytes(10_000));
    // in a plain function, so no stack slot of this async frame keeps the last one alive
    const churn = (): void => {
      for (let i = 0; i < 3000; i++) {
        const m = native.map(small);
        const s = m.slice(i % 100, 50);
        if (s.length !== 50) throw new Error('bad slice');
        if (i % 3 === 0) m.close();
      }
    };
    churn();
    expect(mappingsOf(small)).toBeGreaterThan(0);
    await settle(gc, () => mappingsOf(small) === 0);
    expect(mappingsOf(small)).toBe(0);
  });

  it('a slice outliving its closed, collected mapping is served correctly over node:http', async () => {
    const gc = gcFn();
    const off = 777_777;
    const len = 1_000_003;
    let body: Buffer | null = (() => {
      const m = native.map(bigPath);
      const s = m.slice(off, len);
      m.close();
      return s;
    })();
    await settle(gc, () => false, 100);
    const server = http.createServer((_req, res) => {
      res.setHeader('content-length', String(body!.length));
      res.end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const got = await new Promise<Buffer>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path: '/' }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve(Buffer.concat(chunks)));
            res.on('error', reject);
          })
          .on('error', reject);
      });
      expect(got.length).toBe(len);
      expect(Buffer.compare(got, big.subarray(off, off + len))).toBe(0);
    } finally {
      server.close();
      body = null;
    }
  });
});
