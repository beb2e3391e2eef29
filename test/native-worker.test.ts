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

describe('worker threads (piscina)', () => {
  it('loads in workers, and a mapping transferred from a worker is adopted in the main thread', async () => {
    const pool = new Piscina({
      filename: path.join(here, 'fixtures', 'native-worker.ts'),
      execArgv: ['--import', 'tsx'],
      minThreads: 2,
      maxThreads: 2,
    });
    const base = native.liveMappings();
    try {
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

      // SIGBUS taken on a worker thread: the main thread truncates, the worker checksums.
      if (native.kind === 'addon') {
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
      }
    } finally {
      await pool.destroy();
    }
    // Worker teardown runs the finalizers of the Buffers it still held: nothing stays mapped.
    if (native.kind === 'addon') {
      const end = Date.now() + 5000;
      v8.setFlagsFromString('--expose-gc');
      const gc = vm.runInNewContext('gc') as () => void; // main-thread slices hold references too
      while (native.liveMappings() !== base && Date.now() < end) {
        gc();
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(native.liveMappings()).toBe(base);
    }
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
  it('does not kill the process; the mapping is poisoned and says so', () => {
    const r = runFixture([path.join(dir, 'trunc.bin')]);
    expect(r.signal, r.stderr).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out.before).toEqual({ a: 0x5a, b: 0x5a, poisoned: false });
    expect(out.fresh).toEqual({ size: 8192, poisoned: false, crcOk: true });
    if (out.kind === 'addon') {
      expect(out.after.mid).toBe(0); // zero page mapped over the hole
      expect(out.after.b).toBe(0);
      expect(out.after.a).toBe(0x5a); // still-valid first pages untouched
      expect(out.poisoned).toBe(true);
      expect(out.faults).toBeGreaterThanOrEqual(1);
      for (const k of ['crc32c', 'warm', 'crcFirst']) {
        expect(out.errs[k].code).toBe('ESEGDPOISONED');
        expect(out.errs[k].message).toMatch(/changed.*under the mapping/);
      }
    } else {
      // fallback copied the bytes at map time: nothing can fault
      expect(out.poisoned).toBe(false);
      expect(out.after).toEqual({ a: 0x5a, mid: 0x5a, b: 0x5a });
    }
  });

  it('a SIGBUS that is not a fault in our mappings still kills the process', () => {
    const r = runFixture([path.join(dir, 'kill.bin'), 'kill']);
    expect(r.signal).toBe('SIGBUS');
  });
});
