/** Real temp directories of HLS-shaped content with known bytes. */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface TempTree {
  readonly dir: string;
  write(rel: string, data: string | Buffer): Buffer;
  remove(): void;
}

export function tempTree(prefix = 'segd-test-'): TempTree {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    write(rel, data) {
      const path = join(dir, rel);
      mkdirSync(dirname(path), { recursive: true });
      const buf = typeof data === 'string' ? Buffer.from(data) : data;
      writeFileSync(path, buf);
      return buf;
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function vodPlaylist(segments: readonly string[], target = 2): string {
  return ['#EXTM3U', '#EXT-X-VERSION:3', `#EXT-X-TARGETDURATION:${target}`, '#EXT-X-MEDIA-SEQUENCE:0',
    ...segments.flatMap((s) => [`#EXTINF:${target}.000,`, s]), '#EXT-X-ENDLIST', ''].join('\n');
}

export function livePlaylist(segments: readonly string[], target = 4): string {
  return ['#EXTM3U', '#EXT-X-VERSION:3', `#EXT-X-TARGETDURATION:${target}`, '#EXT-X-MEDIA-SEQUENCE:7',
    ...segments.flatMap((s) => [`#EXTINF:${target}.000,`, s]), ''].join('\n');
}

export const random = (n: number): Buffer => randomBytes(n);
