// Native layer across threads (piscina) and processes (truncation / SIGBUS safety).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { Piscina } from 'piscina';
import { native, type MappingToken } from '../src/native/index.js';
import { crc32cTable } from '../src/native/fallback.js';
import { mappingsOf, skipping } from './helpers/native.js';

const here = path.dirname(fileURLToPath(import.meta.url));
let dir: string;
let file: string;
let data: Buffer;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segd-native-w-'));
  data = crypto.randomBytes(2 * 1024 * 1024 + 333);
  file = path.join(dir, 'seg.ts');
  fs.writeFileSync(file, data);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Set when the active implementation is the TypeScript fallback: why an addon-only test is skipped. */
const onFallback = native.kind === 'fallback' ? 'the active byte path is the TypeScript fallback' : undefined;
const onAddon = native.kind === 'addon' ? 'the active byte path is the addon' : undefined;

describe('worker threads (piscina)', () => {
  let pool: Piscina;
  beforeAll(() => {
    pool = new Piscina({
      filename: path.join(here, 'fixtures', 'native-worker.ts'),
      execArgv: ['--import', 'tsx'],
      minThreads: 2,
      maxThreads: 2,
    });
  });
  afterAll(() => pool?.destroy());

  it('loads in workers, and a mapping transferred from a worker is adopted in the main thread', async () => {
    const jobs = [
      { path: file, offset: 0, length: data.length },
      { path: file, offset: 4097, length: 1_000_001 },
      { path: file, offset: data.length - 16, length: 16 },
      { path: file, offset: 12345, length: 300_000 },
    ];
    // main thread uses the addon at the same time
    const mainMap = native.map(file);
    const results = await Promise.all(jobs.map((j) => pool.run(j) as Promise<{ kind: string; crc: number; first: string; token: MappingToken; crcImpl: string }>));
    for (let i = 0; i < jobs.length; i++) {
      const j = jobs[i]!;
      const r = results[i]!;
      expect(r.kind).toBe(native.kind);
      expect(r.crcImpl).toBe(native.crcImpl);
      expect(r.crc).toBe(crc32cTable(data.subarray(j.offset, j.offset + j.length)));
      expect(r.first).toBe(data.subarray(j.offset, j.offset + Math.min(16, j.length)).toString('hex'));
      expect(mainMap.crc32c(j.offset, j.length)).toBe(r.crc);
      const m = native.adopt(r.token);
      expect(m.size).toBe(data.length);
      expect(Buffer.compare(m.slice(j.offset, j.length), data.subarray(j.offset, j.offset + j.length))).toBe(0);
      m.close();
    }
    mainMap.close();
  });

  it.skipIf(skipping('SIGBUS on a worker thread', onFallback))('addon: a SIGBUS taken on a worker thread poisons the mapping for every thread', async () => {
    // The main thread truncates, the worker checksums.
    const tp = path.join(dir, 'trunc-worker.bin');
    fs.writeFileSync(tp, Buffer.alloc(512 * 1024, 1));
    const m = native.map(tp);
    fs.truncateSync(tp, 4096);
    const r = (await pool.run({ adopt: m.transfer() })) as { code?: string; message?: string; poisoned: boolean };
    expect(r.code).toBe('ESEGDPOISONED');
    expect(r.poisoned).toBe(true);
    expect(m.poisoned).toBe(true); // poison is per mapping, process-wide
    expect(() => m.crc32c()).toThrow(/changed.*under the mapping/);
    m.close();
  });
});

describe('worker teardown', () => {
  it.skipIf(skipping('worker teardown', onFallback))('addon: a destroyed pool leaves nothing mapped (its finalizers run at teardown)', async () => {
    const own = path.join(dir, 'teardown.bin');
    fs.writeFileSync(own, data.subarray(0, 200_000));
    const pool = new Piscina({ filename: path.join(here, 'fixtures', 'native-worker.ts'), execArgv: ['--import', 'tsx'], minThreads: 1, maxThreads: 1 });
    // The worker keeps a slice of each mapping it hands over (`keep`): its Buffers hold references.
    const tokens = (await Promise.all([0, 1, 2].map(() => pool.run({ path: own, offset: 0, length: 1000, keep: true })))) as { token: MappingToken }[];
    for (const t of tokens) native.adopt(t.token).close();
    expect(mappingsOf(own)).toBe(3);
    await pool.destroy();
    // Main-thread handles are closed; what stays mapped is what the worker's Buffers held.
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const end = Date.now() + 5000;
    while (mappingsOf(own) !== 0 && Date.now() < end) {
      gc();
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(mappingsOf(own)).toBe(0);
  });
});

function runFixture(args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', path.join(here, 'fixtures', 'native-truncate.ts'), ...args], {
    encoding: 'utf8',
    env: process.env,
    timeout: 20_000,
  });
}

describe('truncation under a live mapping', () => {
  it.skipIf(skipping('truncation under an addon mapping', onFallback))('addon: does not kill the process; the mapping is poisoned and says so', () => {
    const r = runFixture([path.join(dir, 'trunc.bin')]);
    expect(r.signal, r.stderr).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out.kind).toBe('addon');
    expect(out.before).toEqual({ a: 0x5a, b: 0x5a, poisoned: false });
    expect(out.fresh).toEqual({ size: 8192, poisoned: false, crcOk: true });
    expect(out.after.mid).toBe(0); // zero page mapped over the hole
    expect(out.after.b).toBe(0);
    expect(out.after.a).toBe(0x5a); // still-valid first pages untouched
    expect(out.poisoned).toBe(true);
    expect(out.faults).toBeGreaterThanOrEqual(1);
    for (const k of ['crc32c', 'warm', 'crcFirst']) {
      expect(out.errs[k].code).toBe('ESEGDPOISONED');
      expect(out.errs[k].message).toMatch(/changed.*under the mapping/);
    }
  });

  it.skipIf(skipping('truncation under a fallback copy', onAddon))('fallback: the bytes were copied at map time, so nothing can fault', () => {
    const r = runFixture([path.join(dir, 'trunc-fallback.bin')]);
    expect(r.signal, r.stderr).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out.kind).toBe('fallback');
    expect(out.before).toEqual({ a: 0x5a, b: 0x5a, poisoned: false });
    expect(out.poisoned).toBe(false);
    expect(out.after).toEqual({ a: 0x5a, mid: 0x5a, b: 0x5a });
    expect(out.faults).toBe(0);
  });

  it('a SIGBUS that is not a fault in our mappings still kills the process', () => {
    const r = runFixture([path.join(dir, 'kill.bin'), 'kill']);
    expect(r.signal).toBe('SIGBUS');
  });
});
