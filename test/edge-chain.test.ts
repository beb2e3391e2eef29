/**
 * A peer edge as an origin: segd in front of segd in front of a folder. The first answer of each
 * hop already carries the ETag the folder server computed (each segd declares its CRC32C to the
 * next the way S3 does, x-amz-checksum-crc32c), so one object has one ETag everywhere.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../src/server/listen.js';
import { get } from './helpers/http.js';
import { random, tempTree, vodPlaylist, type TempTree } from './helpers/content.js';

let tree: TempTree;
let seg: Buffer;
let folder: RunningServer;
let parent: RunningServer;
let child: RunningServer;
const dirs: string[] = [];
const cacheDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'segd-chain-'));
  dirs.push(d);
  return d;
};

beforeAll(async () => {
  tree = tempTree();
  seg = tree.write('v/seg0.m4s', random(500_000));
  tree.write('v/main.m3u8', vodPlaylist(['seg0.m4s']));
  folder = await startServer({ root: tree.dir, port: 0, threads: 1, player: false });
  parent = await startServer({ origin: folder.url, cacheDir: cacheDir(), port: 0, threads: 1, player: false });
  child = await startServer({ origin: parent.url, cacheDir: cacheDir(), port: 0, threads: 1, player: false });
});
afterAll(async () => {
  for (const s of [child, parent, folder]) await s?.close(500);
  tree?.remove();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('segd in front of segd in front of a folder', () => {
  it('has one ETag for one object on every hop, from the first streamed byte on', async () => {
    const fromFolder = await get(folder.url, '/v/seg0.m4s');
    const first = await get(child.url, '/v/seg0.m4s'); // a miss on both edges, streamed through both
    expect(first.headers['cache-status']).toBe('segd; fwd=miss; fwd-status=200; stored');
    expect(first.body.equals(seg)).toBe(true);
    expect(first.headers.etag).toBe(fromFolder.headers.etag);
    for (let i = 0; i < 2; i++) {
      const again = await get(child.url, '/v/seg0.m4s'); // from disk, then from memory
      expect(again.headers['cache-status']).toBe('segd; hit');
      expect(again.headers.etag).toBe(fromFolder.headers.etag);
    }
    expect((await get(parent.url, '/v/seg0.m4s')).headers.etag).toBe(fromFolder.headers.etag);
  });

  it('declares its CRC32C only when asked the way S3 is', async () => {
    expect((await get(folder.url, '/v/seg0.m4s')).headers['x-amz-checksum-crc32c']).toBeUndefined();
    const asked = await get(folder.url, '/v/seg0.m4s', { 'x-amz-checksum-mode': 'ENABLED' });
    expect(asked.headers['x-amz-checksum-crc32c']).toMatch(/^[A-Za-z0-9+/]{6}==$/);
    const compressed = await get(folder.url, '/v/main.m3u8', { 'x-amz-checksum-mode': 'ENABLED', 'accept-encoding': 'gzip' });
    expect(compressed.headers['content-encoding']).toBe('gzip');
    expect(compressed.headers['x-amz-checksum-crc32c']).toBeUndefined(); // it describes identity bytes only
  });

  it('reports the edge metrics', async () => {
    const m = (await get(child.url, '/metrics')).body.toString();
    for (const name of [
      'segd_origin_requests_total{status="200"}',
      'segd_origin_bytes_total',
      'segd_origin_first_byte_seconds_count',
      'segd_cache_hits_total{tier="memory"} 1',
      'segd_cache_hits_total{tier="disk"} 1',
      'segd_collapsed_requests_total',
      'segd_stale_served_total',
      'segd_disk_bytes',
      'segd_disk_objects',
      'segd_disk_evictions_total',
      'segd_fills_discarded_total',
      'segd_fills_in_flight',
      'segd_origin_breaker_state',
    ]) {
      expect(m, name).toContain(name);
    }
    expect(Number(/^segd_disk_objects (\d+)/m.exec(m)?.[1])).toBeGreaterThanOrEqual(1);
  });
});
