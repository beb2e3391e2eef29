// A worker's view of the group's disk cache (src/store/disk/shared.ts), in-process: the edge-group
// tests reach it only through CLI child processes. A real cache directory and a link that records
// what the worker would tell the filler; the touch batches run on vitest's fake clock.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keyHash, objectPath } from '../src/store/disk/format.js';
import { SharedDisk, type DiskReport, type WorkerLink } from '../src/store/disk/shared.js';

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'segd-shared-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

let reports: DiskReport[];
let disk: SharedDisk;
beforeEach(() => {
  vi.useFakeTimers();
  reports = [];
  const link: WorkerLink = { role: 'worker', filler: 'http://127.0.0.1:1', report: (r) => reports.push(r), onNotice: () => undefined };
  disk = new SharedDisk(root, link);
});
afterEach(() => {
  disk.close();
  vi.useRealTimers();
});

const hash = (n: number): string => keyHash(`/seg${n}.ts`);

describe('SharedDisk', () => {
  it('sends hits once a second, each object as often as it was hit (at most 3), nothing when there were none', () => {
    disk.touch(hash(1));
    disk.touch(hash(2));
    disk.touch(hash(1));
    for (let i = 0; i < 5; i++) disk.touch(hash(3));
    vi.advanceTimersByTime(999);
    expect(reports).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(reports).toEqual([{ touched: [hash(1), hash(1), hash(2), hash(3), hash(3), hash(3)] }]);
    vi.advanceTimersByTime(3000);
    expect(reports).toHaveLength(1);
    disk.touch(hash(1));
    vi.advanceTimersByTime(1000);
    expect(reports).toEqual([{ touched: [hash(1), hash(1), hash(2), hash(3), hash(3), hash(3)] }, { touched: [hash(1)] }]);
  });

  it('remembers at most 16384 distinct objects per batch, and starts afresh after it', () => {
    for (let i = 0; i < 16_400; i++) disk.touch(hash(i));
    vi.advanceTimersByTime(1000);
    expect(reports).toHaveLength(1);
    const first = reports[0] as { touched: string[] };
    expect(first.touched).toHaveLength(16_384);
    expect(first.touched.at(-1)).toBe(hash(16_383));
    disk.touch(hash(16_399));
    vi.advanceTimersByTime(1000);
    expect(reports[1]).toEqual({ touched: [hash(16_399)] });
  });

  it('reports a corrupt object to the filler at once and leaves its file to the filler', async () => {
    const h = hash(7);
    const path = objectPath(root, h);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, 'torn');
    await disk.drop(h);
    expect(reports).toEqual([{ dropped: h }]);
    expect(existsSync(path)).toBe(true);
  });

  it('looks for every object under the filler’s directory, and has nothing to correct', () => {
    const h = hash(8);
    expect(disk.pathOf(h)).toBe(join(root, 'data', h.slice(0, 2), h));
    expect(disk.has(h)).toBe(true);
    expect(disk.has(keyHash('never stored'))).toBe(true);
    disk.lost(h);
    vi.advanceTimersByTime(1000);
    expect(reports).toEqual([]);
  });

  it('close() sends the hits not yet sent and stops the timer', () => {
    disk.touch(hash(3));
    disk.close();
    expect(reports).toEqual([{ touched: [hash(3)] }]);
    expect(vi.getTimerCount()).toBe(0);
    disk.touch(hash(4));
    vi.advanceTimersByTime(5000);
    expect(reports).toHaveLength(1);
  });

  it('close() with no hits sends nothing', () => {
    disk.close();
    expect(reports).toEqual([]);
  });
});
