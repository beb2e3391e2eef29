// The addon built with `--features bench` (native/Cargo.toml): it exports exactly ADDON_EXPORTS
// and BENCH_EXPORTS (src/native/index.ts), and the comparisons it adds behave. This file builds
// that variant itself (`node native/build.mjs --bench`, into native/target/bench/, apart from the
// default build) and loads it the way bench/native.ts does: cargo's own .so through
// SEGD_NATIVE_PATH.
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { NativeBench } from '../src/native/index.js';
import { crc32cTable } from '../src/native/fallback.js';
import { NATIVE_DIR, noCargo, skipping } from './helpers/native.js';

const forcedFallback = process.env.SEGD_NATIVE === '0' ? 'SEGD_NATIVE=0 forces the fallback, which has no bench exports' : undefined;

describe.skipIf(skipping('the --features bench build', noCargo))('the --features bench build', () => {
  let addonPath: string;
  // Imported only once SEGD_NATIVE_PATH names the bench build: the module picks its addon when it loads.
  let api: typeof import('../src/native/index.js');
  let bench: NativeBench;

  beforeAll(async () => {
    const r = spawnSync(process.execPath, [path.join(NATIVE_DIR, 'build.mjs'), '--bench'], { encoding: 'utf8', timeout: 240_000 });
    expect(r.status, r.stderr).toBe(0);
    addonPath = r.stdout.trim();
    expect(addonPath).toMatch(/libsegd_native\.so$/);
    process.env.SEGD_NATIVE_PATH = addonPath;
    api = await import('../src/native/index.js');
    if (forcedFallback === undefined) bench = api.native.bench!;
  }, 250_000);

  it('exports exactly ADDON_EXPORTS and BENCH_EXPORTS', () => {
    const module = { exports: {} as Record<string, unknown> };
    process.dlopen(module, addonPath);
    expect(Object.keys(module.exports).sort()).toEqual([...api.ADDON_EXPORTS, ...api.BENCH_EXPORTS].sort());
  });

  it.skipIf(skipping('the bench exports through src/native/index.ts', forcedFallback))('is what src/native/index.ts loads, with native.bench', () => {
    expect(api.nativeDescription()).toContain(addonPath);
    expect(api.native.kind).toBe('addon');
    expect(api.native.bench).toEqual({ crc32cPortable: expect.any(Function) });
  });

  it.skipIf(skipping('crc32cPortable', forcedFallback))('crc32cPortable: the vector, every length 0..4096 at every alignment, large sizes, seeds', () => {
    expect(bench.crc32cPortable(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(bench.crc32cPortable(new Uint8Array(0), 0x12345678)).toBe(0x12345678);
    const data = crypto.randomBytes(4096 + 16);
    for (let len = 0; len <= 4096; len++) {
      for (let off = 0; off < 8; off++) {
        const v = data.subarray(off, off + len);
        const want = crc32cTable(v);
        const got = bench.crc32cPortable(v);
        if (got !== want) throw new Error(`len ${len} off ${off}: ${got} != ${want}`);
      }
    }
    const big = crypto.randomBytes(8 * 1024 * 1024 + 7);
    expect(bench.crc32cPortable(big)).toBe(crc32cTable(big));
    expect(bench.crc32cPortable(big.subarray(1000), bench.crc32cPortable(big.subarray(0, 1000)))).toBe(crc32cTable(big));
    expect(() => bench.crc32cPortable(Buffer.from('x'), -1)).toThrow(RangeError);
  });
});
