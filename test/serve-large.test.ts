/**
 * Bodies larger than one write window (256 MiB) go out window by window with backpressure
 * (respond.ts sendWindows). A sparse 300 MiB file with markers on both sides of each window
 * boundary: the whole body and a range longer than a window arrive complete and in order, over
 * HTTP/1.1 and HTTPS/1.1 (where each window goes in 128 KiB slices).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSync, openSync, writeSync, ftruncateSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:http';
import { request as tlsRequest } from 'node:https';
import { startServer, type RunningServer } from '../src/server/listen.js';
import { native } from '../src/native/index.js';
import { tempTree, type TempTree } from './helpers/content.js';
import { testPki } from './helpers/pki.js';
import { serverWrites } from './helpers/writes.js';

const MiB = 1024 * 1024;
const SIZE = 300 * MiB;
const WINDOW = 256 * MiB;
/** Offsets that carry a marker byte; everything else is a hole (zeros). */
const MARKS = [0, 1, WINDOW - 1, WINDOW, WINDOW + 1, SIZE - 1];
const markAt = (offset: number): number => (offset % 251) + 1;

const pki = testPki();
let tree: TempTree;
let srv: RunningServer;
beforeAll(async () => {
  tree = tempTree();
  const fd = openSync(join(tree.dir, 'big.mp4'), 'w');
  ftruncateSync(fd, SIZE);
  for (const at of MARKS) writeSync(fd, Buffer.from([markAt(at)]), 0, 1, at);
  closeSync(fd);
  srv = await startServer({ root: tree.dir, port: 0, httpPort: 0, threads: 1, player: false, cacheSize: '1GiB', tls: pki.files });
});
afterAll(async () => {
  await srv?.close(1000);
  tree?.remove();
});

/** Streams a response, checking each byte against the file's (zeros but the markers) without keeping it. */
function fetchChecked(tls: boolean, headers: Record<string, string>, start: number): Promise<{ status: number; length: number; crc: number; wrong: number[] }> {
  const url = new URL(tls ? srv.url : srv.httpUrl!);
  const get = tls ? tlsRequest : request;
  return new Promise((resolve, reject) => {
    get({ host: url.hostname, port: url.port, path: '/big.mp4', headers, agent: false, ca: pki.ca }, (res) => {
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

describe.each([
  ['HTTP/1.1', false],
  ['HTTPS/1.1', true],
])('bodies larger than one write window, %s', (_, tls) => {
  /** Each window in one write over plain HTTP, in 128 KiB slices over TLS. */
  const largestWrite = (writes: number[][]): number => Math.max(...writes.flat());
  const windowWrite = (length: number): number => (tls ? 128 * 1024 : length);

  it('the whole 300 MiB body arrives complete, in order', async () => {
    const { writes } = await serverWrites(async () => {
      const r = await fetchChecked(tls, {}, 0);
      expect(r.status).toBe(200);
      expect(r.length).toBe(SIZE);
      expect(r.wrong).toEqual([]);
      expect(r.crc).toBe(expectedCrc(0, SIZE));
    });
    expect(largestWrite(writes)).toBe(windowWrite(WINDOW));
  }, 60_000);

  it('a range longer than a window, starting off its boundary, arrives complete', async () => {
    const start = 1;
    const end = WINDOW + 10;
    const r = await fetchChecked(tls, { range: `bytes=${start}-${end}` }, start);
    expect(r.status).toBe(206);
    expect(r.length).toBe(end - start + 1);
    expect(r.wrong).toEqual([]);
    expect(r.crc).toBe(expectedCrc(start, end + 1));
  }, 60_000);
});
