// Synthetic HLS content with random bytes: hot segments, a byte-range rendition,
// a master playlist, a cold library larger than segd's cache, and a disk library larger than
// the memory the disk scenario allows.
import { randomFillSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ContentSpec } from './options.js';

const LAYOUT_VERSION = 1;
const SEGMENT_SECONDS = 4;

export interface Content {
  dir: string;
  spec: ContentSpec;
  masterPath: string;
  /** Media playlist of the hot segments (the "playlist" scenario). */
  playlistPath: string;
  segmentPaths: string[];
  rangePlaylistPath: string;
  rangePath: string;
  /** Byte ranges [start, end] (inclusive) listed in the byte-range playlist. */
  ranges: Array<[number, number]>;
  coldPaths: string[];
  /** The disk scenario's library (its own, so no earlier scenario has it cached or mapped). */
  diskPaths: string[];
  totalBytes: number;
}

const pad3 = (n: number): string => String(n).padStart(3, '0');

function mediaPlaylist(lines: string[], map: string): string {
  return [
    '#EXTM3U',
    '#EXT-X-VERSION:7',
    `#EXT-X-TARGETDURATION:${SEGMENT_SECONDS}`,
    '#EXT-X-MEDIA-SEQUENCE:0',
    '#EXT-X-PLAYLIST-TYPE:VOD',
    '#EXT-X-INDEPENDENT-SEGMENTS',
    map,
    ...lines,
    '#EXT-X-ENDLIST',
    '',
  ].join('\n');
}

function segmentLines(names: string[]): string[] {
  return names.flatMap((n) => [`#EXTINF:${SEGMENT_SECONDS.toFixed(3)},`, n]);
}

/** Describes the layout for a spec without touching the disk. */
export function describeContent(dir: string, spec: ContentSpec): Content {
  const segmentPaths = Array.from({ length: spec.segmentCount }, (_, i) => `/seg/seg${pad3(i)}.m4s`);
  const ranges: Array<[number, number]> = [];
  for (let off = 0; off + spec.rangeChunkBytes <= spec.rangeFileBytes; off += spec.rangeChunkBytes) {
    ranges.push([off, off + spec.rangeChunkBytes - 1]);
  }
  const coldPaths = libraryPaths('cold', spec.coldBytes, spec.coldSegmentBytes);
  const diskPaths = libraryPaths('disk', spec.diskBytes, spec.coldSegmentBytes);
  return {
    dir,
    spec,
    masterPath: '/master.m3u8',
    playlistPath: '/seg/index.m3u8',
    segmentPaths,
    rangePlaylistPath: '/range/index.m3u8',
    rangePath: '/range/main.mp4',
    ranges,
    coldPaths,
    diskPaths,
    totalBytes: spec.segmentCount * spec.segmentBytes + spec.rangeFileBytes + (coldPaths.length + diskPaths.length) * spec.coldSegmentBytes,
  };
}

/** A library of `bytes` in segments under `/root/tNNN/`, 64 per track. */
function libraryPaths(root: string, bytes: number, segmentBytes: number): string[] {
  const count = Math.max(1, Math.floor(bytes / segmentBytes));
  return Array.from({ length: count }, (_, i) => `/${root}/t${pad3(Math.floor(i / 64))}/seg${pad3(i % 64)}.m4s`);
}

async function writeRandom(file: string, size: number, scratch: Buffer): Promise<void> {
  const buf = size <= scratch.length ? scratch.subarray(0, size) : Buffer.allocUnsafe(size);
  randomFillSync(buf);
  await writeFile(file, buf);
}

/**
 * Generates the content into dir, or reuses it when a previous run left the same spec there.
 */
export async function ensureContent(
  dir: string,
  spec: ContentSpec,
  log: (line: string) => void = () => {},
): Promise<Content> {
  const content = describeContent(dir, spec);
  const manifestFile = path.join(dir, 'manifest.json');
  const manifest = JSON.stringify({ version: LAYOUT_VERSION, spec });
  if (existsSync(manifestFile)) {
    const prev = await readFile(manifestFile, 'utf8').catch(() => '');
    if (prev === manifest) return content;
  }
  log(`generating ${(content.totalBytes / 2 ** 20).toFixed(0)} MiB of synthetic content in ${dir}`);
  const started = Date.now();
  await rm(dir, { recursive: true, force: true });
  await mkdir(path.join(dir, 'seg'), { recursive: true });
  await mkdir(path.join(dir, 'range'), { recursive: true });
  const scratch = Buffer.allocUnsafe(Math.max(spec.segmentBytes, spec.coldSegmentBytes));

  // Hot segments with an init segment and a media playlist.
  await writeRandom(path.join(dir, 'seg', 'init.mp4'), 1024, scratch);
  for (const p of content.segmentPaths) await writeRandom(path.join(dir, p), spec.segmentBytes, scratch);
  const segNames = content.segmentPaths.map((p) => path.posix.basename(p));
  await writeFile(path.join(dir, 'seg', 'index.m3u8'), mediaPlaylist(segmentLines(segNames), '#EXT-X-MAP:URI="init.mp4"'));

  // One single-file rendition: the first chunk is the init section, the rest are segments.
  await writeRandom(path.join(dir, content.rangePath), spec.rangeFileBytes, scratch);
  const [init, ...media] = content.ranges;
  const rangeLines = media.flatMap(([s, e]) => [
    `#EXTINF:${SEGMENT_SECONDS.toFixed(3)},`,
    `#EXT-X-BYTERANGE:${e - s + 1}@${s}`,
    'main.mp4',
  ]);
  const rangeMap = init ? `#EXT-X-MAP:URI="main.mp4",BYTERANGE="${init[1] - init[0] + 1}@${init[0]}"` : '';
  await writeFile(path.join(dir, content.rangePlaylistPath), mediaPlaylist(rangeLines, rangeMap));

  // The libraries: tracks of up to 64 segments, each with its own playlist.
  const tracks = new Map<string, string[]>();
  for (const p of [...content.coldPaths, ...content.diskPaths]) {
    const trackDir = path.posix.dirname(p);
    if (!tracks.has(trackDir)) {
      tracks.set(trackDir, []);
      await mkdir(path.join(dir, trackDir), { recursive: true });
    }
    tracks.get(trackDir)!.push(path.posix.basename(p));
    await writeRandom(path.join(dir, p), spec.coldSegmentBytes, scratch);
  }
  for (const [trackDir, names] of tracks) {
    await writeRandom(path.join(dir, trackDir, 'init.mp4'), 1024, scratch);
    await writeFile(path.join(dir, trackDir, 'index.m3u8'), mediaPlaylist(segmentLines(names), '#EXT-X-MAP:URI="init.mp4"'));
  }

  const kbps = Math.round((spec.segmentBytes * 8) / SEGMENT_SECONDS);
  await writeFile(
    path.join(dir, 'master.m3u8'),
    [
      '#EXTM3U',
      '#EXT-X-VERSION:7',
      '#EXT-X-INDEPENDENT-SEGMENTS',
      `#EXT-X-STREAM-INF:BANDWIDTH=${kbps},CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=1280x720`,
      'seg/index.m3u8',
      `#EXT-X-STREAM-INF:BANDWIDTH=${Math.round((spec.rangeChunkBytes * 8) / SEGMENT_SECONDS)},CODECS="avc1.64001e,mp4a.40.2",RESOLUTION=640x360`,
      'range/index.m3u8',
      '',
    ].join('\n'),
  );
  await writeFile(manifestFile, manifest);
  log(`content ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return content;
}
