import { afterAll, describe, expect, it } from 'vitest';
import { listStreams } from '../src/serve/streams.js';
import { tempTree, vodPlaylist } from './helpers/content.js';

const tree = tempTree();
afterAll(() => tree.remove());

describe('listStreams without a manifest', () => {
  it('lists masters and the media playlists no master names, skipping dot directories', async () => {
    tree.write('show/master.m3u8', '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nlow/index.m3u8\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="en",URI="audio/index.m3u8"\n#EXT-X-STREAM-INF:BANDWIDTH=2,AUDIO="a"\nhigh/index.m3u8?x=1\n');
    for (const v of ['low', 'high', 'audio']) tree.write(`show/${v}/index.m3u8`, vodPlaylist(['s.ts']));
    tree.write('clip one/main.m3u8', vodPlaylist(['s.ts']));
    tree.write('.hidden/x.m3u8', vodPlaylist(['s.ts']));
    expect(await listStreams(tree.dir)).toEqual([
      { path: '/clip%20one/main.m3u8', name: 'clip one/main', kind: 'media' },
      { path: '/show/master.m3u8', name: 'show/master', kind: 'master' },
    ]);
  });
});
