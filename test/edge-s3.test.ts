/**
 * An edge fed from S3: s3rver (an S3 server in-process; it checks no SigV4 signature, which
 * test/s3-origin.test.ts recomputes instead) holds a stream under a prefix, with keys that need
 * escaping; segd serves it from s3://bucket/prefix with credentials from the environment.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import { request } from 'undici';
import { startServer, type RunningServer } from '../src/server/listen.js';
import { get } from './helpers/http.js';
import { random, tempTree, vodPlaylist, type TempTree } from './helpers/content.js';

const OBJECTS: Record<string, Buffer> = {
  'vod/main.m3u8': Buffer.from(vodPlaylist(['seg 0.ts', 'vidéo €1.ts'])),
  'vod/seg 0.ts': random(200_000),
  'vod/vidéo €1.ts': random(150_000),
  'other/secret.ts': random(100),
};

let dir: TempTree;
let s3: S3rver;
let srv: RunningServer;
let cacheDir: string;
const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };

beforeAll(async () => {
  dir = tempTree('segd-s3rver-');
  s3 = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir.dir, configureBuckets: [{ name: 'media', configs: [] }] });
  const port = (await s3.run()).port;
  for (const [key, bytes] of Object.entries(OBJECTS)) {
    const res = await request(`http://127.0.0.1:${port}/media/${key.split('/').map(encodeURIComponent).join('/')}`, { method: 'PUT', body: bytes });
    await res.body.dump();
    expect(res.statusCode).toBe(200);
  }
  // The standard chain's first link: the environment (s3rver knows only this key pair).
  process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
  cacheDir = mkdtempSync(join(tmpdir(), 'segd-edge-s3-'));
  srv = await startServer({ origin: 's3://media/vod', s3Endpoint: `http://127.0.0.1:${port}`, cacheDir, port: 0, threads: 1, player: false });
});

afterAll(async () => {
  await srv?.close(500);
  await s3?.close();
  dir?.remove();
  rmSync(cacheDir, { recursive: true, force: true });
  process.env.AWS_ACCESS_KEY_ID = saved.id;
  process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
  if (saved.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
  if (saved.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
});

describe('an edge of s3://media/vod', () => {
  it('serves the playlist and segments whose keys need escaping, byte for byte, then from its cache', async () => {
    for (const [path, key] of [['/main.m3u8', 'vod/main.m3u8'], ['/seg%200.ts', 'vod/seg 0.ts'], ['/vid%C3%A9o%20%E2%82%AC1.ts', 'vod/vidéo €1.ts']] as const) {
      const miss = await get(srv.url, path);
      expect(miss.status, path).toBe(200);
      expect(miss.body.equals(OBJECTS[key]!), path).toBe(true);
      const hit = await get(srv.url, path);
      expect(hit.headers['cache-status']).toBe('segd; hit');
      expect(hit.body.equals(OBJECTS[key]!)).toBe(true);
    }
  });

  it('serves ranges, answers 404 for a key that is not there, and never reaches outside the prefix', async () => {
    const r = await get(srv.url, '/seg%200.ts', { range: 'bytes=100-199' });
    expect(r.status).toBe(206);
    expect(r.body.equals(OBJECTS['vod/seg 0.ts']!.subarray(100, 200))).toBe(true);
    expect((await get(srv.url, '/nothing.ts')).status).toBe(404);
    expect((await get(srv.url, '/../other/secret.ts')).status).toBe(400);
    expect((await get(srv.url, '/%2e%2e/other/secret.ts')).status).toBe(400);
  });
});
