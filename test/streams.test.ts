import { afterAll, describe, expect, it } from 'vitest';
import { listStreams } from '../src/serve/streams.js';
import type { CatalogueAsset } from '../src/catalogue/describe.js';
import { tempTree, vodPlaylist } from './helpers/content.js';

const tree = tempTree();
afterAll(() => tree.remove());

describe('listStreams without a manifest', () => {
  it('lists masters and the media playlists no master names, skipping dot directories', async () => {
    tree.write('show/master.m3u8', '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nlow/index.m3u8\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="en",URI="audio/index.m3u8"\n#EXT-X-STREAM-INF:BANDWIDTH=2,AUDIO="a"\nhigh/index.m3u8?x=1\n');
    for (const v of ['low', 'high', 'audio']) tree.write(`show/${v}/index.m3u8`, vodPlaylist(['s.ts']));
    tree.write('clip one/main.m3u8', vodPlaylist(['s.ts']));
    tree.write('.hidden/x.m3u8', vodPlaylist(['s.ts']));
    // A master naming an absolute URL that happens to end like a local file does not hide that file.
    tree.write('remote/master.m3u8', '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nhttps://cdn.example/remote/solo.m3u8\n');
    tree.write('remote/https:/cdn.example/remote/solo.m3u8', vodPlaylist(['s.ts']));
    tree.write('upper/MAIN.M3U8', vodPlaylist(['s.ts']));
    expect(await listStreams(tree.dir)).toStrictEqual([
      { path: '/clip%20one/main.m3u8', name: 'clip one/main', kind: 'media' },
      { path: '/remote/https%3A/cdn.example/remote/solo.m3u8', name: 'remote/https:/cdn.example/remote/solo', kind: 'media' },
      { path: '/remote/master.m3u8', name: 'remote/master', kind: 'master' },
      { path: '/show/master.m3u8', name: 'show/master', kind: 'master' },
      { path: '/upper/MAIN.M3U8', name: 'upper/MAIN', kind: 'media' },
    ]);
  });
});

describe('listStreams from a manifest', () => {
  const asset = (path: string, kind: CatalogueAsset['kind'], topLevel: boolean): CatalogueAsset => ({
    path,
    kind,
    topLevel,
    status: kind === 'invalid' ? 'errors' : 'ok',
    errors: kind === 'invalid' ? 1 : 0,
    warnings: 0,
    duration: 10,
    segments: 2,
    bytes: 1234,
    renditions: [],
    size: 100,
    crc32c: '00000000',
    sha256: '',
  });

  it('lists the top-level playlists that parse, with their catalogue facts, and never walks the tree', async () => {
    const assets = [
      asset('show/master.M3U8', 'master', true),
      asset('show/low/index.m3u8', 'media', false), // a master names it
      asset('clip one/main.m3u8', 'media', true),
      asset('broken.m3u8', 'invalid', true),
    ];
    // The directory does not exist: the list comes from the assets alone.
    expect(await listStreams('/nonexistent/segd-root', assets)).toStrictEqual([
      { path: '/show/master.M3U8', name: 'show/master', kind: 'master', catalogue: { status: 'ok', errors: 0, warnings: 0, duration: 10, segments: 2, bytes: 1234, renditions: [] } },
      { path: '/clip%20one/main.m3u8', name: 'clip one/main', kind: 'media', catalogue: { status: 'ok', errors: 0, warnings: 0, duration: 10, segments: 2, bytes: 1234, renditions: [] } },
    ]);
  });
});
