/**
 * Bodies larger than one write window (256 MiB) go out window by window with backpressure
 * (respond.ts sendWindows). A sparse 300 MiB file with markers on both sides of each window
 * boundary: the whole body and a range longer than a window arrive complete and in order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSync, openSync, writeSync, ftruncateSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:http';
import { startServer, type RunningServer } from '../src/server/listen.js';
import { native } from '../src/native/index.js';
import { tempTree, type TempTree } from './helpers/content.js';

const MiB = 1024 * 1024;
const SIZE = 300 * MiB;
const WINDOW = 256 * MiB;
/** Offsets that carry a marker byte; everything else is a hole (zeros). */
const MARKS = [0, 1, WINDOW - 1, WINDOW, WINDOW + 1, SIZE - 1];
const markAt = (offset: number): number => (offset % 251) + 1;

let tree: TempTree;
let srv: RunningServer;
beforeAll(async () => {
  tree = tempTree();
  const fd = openSync(join(tree.dir, 'big.mp4'), 'w');
  ftruncateSync(fd, SIZE);
  for (const at of MARKS) writeSync(fd, Buffer.from([markAt(at)]), 0, 1, at);
  closeSync(fd);
  srv = await startServer({ root: tree.dir, port: 0, threads: 1, player: false, cacheSize: '1GiB' });
});
afterAll(async () => {
  await srv?.close(1000);
  tree?.remove();
});

/** Streams a response, checking each byte against the file's (zeros but the markers) without keeping it. */
function fetchChecked(headers: Record<string, string>, start: number): Promise<{ status: number; length: number; crc: number; wrong: number[] }> {
  const url = new URL(srv.url);
  return new Promise((resolve, reject) => {
    request({ host: url.hostname, port: url.port, path: '/big.mp4', headers, agent: false }, (res) => {
      let pos = start;
      let crc = 0;
      const wrong: number[] = [];
      res.on('data', (c: Buffer) => {
        crc = native.crc32c(c, crc);
        for (const at of MARKS) if (at >= pos && at < pos + c.length && c[at - pos] !== markAt(at)) wrong.push(at);
        pos += c.length;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, length: pos - start, crc, wrong }));
      res.on('error', reject);
    }).on('error', reject).end();
  });
}

function expectedCrc(from: number, to: number): number {
  let crc = 0;
  const zeros = Buffer.alloc(16 * MiB);
  let pos = from;
  for (const at of [...MARKS.filter((m) => m >= from && m < to), to]) {
    while (pos < at) {
      const n = Math.min(zeros.length, at - pos);
      crc = native.crc32c(zeros.subarray(0, n), crc);
      pos += n;
    }
    if (at < to) {
      crc = native.crc32c(Buffer.from([markAt(at)]), crc);
      pos++;
    }
  }
  return crc;
}

describe('bodies larger than one write window', () => {
  it('the whole 300 MiB body arrives complete, in order', async () => {
    const r = await fetchChecked({}, 0);
    expect(r.status).toBe(200);
    expect(r.length).toBe(SIZE);
    expect(r.wrong).toEqual([]);
    expect(r.crc).toBe(expectedCrc(0, SIZE));
  }, 60_000);

  it('a range longer than a window, starting off its boundary, arrives complete', async () => {
    const start = 1;
    const end = WINDOW + 10;
    const r = await fetchChecked({ range: `bytes=${start}-${end}` }, start);
    expect(r.status).toBe(206);
    expect(r.length).toBe(end - start + 1);
    expect(r.wrong).toEqual([]);
    expect(r.crc).toBe(expectedCrc(start, end + 1));
  }, 60_000);
});
