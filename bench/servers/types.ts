// The media types the bare servers send, by extension: the bench content's three kinds, anything
// else as bytes. (segd's own table is src/http/content-type.ts; the bare servers stay apart.)
import path from 'node:path';

const TYPES: Record<string, string> = {
  '.m3u8': 'application/vnd.apple.mpegurl',
  '.m4s': 'video/iso.segment',
  '.mp4': 'video/mp4',
};

export function typeOf(file: string): string {
  return TYPES[path.extname(file)] ?? 'application/octet-stream';
}
