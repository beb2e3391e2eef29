/**
 * multipart/byteranges bodies (RFC 9110 §14.6): the parts are built as a list of Buffers whose
 * payloads are zero-copy views of the cached object, so a multi-range answer copies no media.
 */
import { randomBytes } from 'node:crypto';
import { contentRange, type ByteRange } from './range.js';

export interface MultipartBody {
  readonly contentType: string;
  readonly length: number;
  readonly chunks: readonly Buffer[];
}

/** One boundary per process: random, so it cannot be predicted and planted inside a media file. */
const BOUNDARY = `segd-${randomBytes(12).toString('hex')}`;

/** `view`: each range's bytes; without it (a HEAD) the body's length still counts them, and its chunks leave them out. */
export function multipartByteranges(
  ranges: readonly ByteRange[],
  size: number,
  partType: string,
  view: ((start: number, length: number) => Buffer) | undefined,
): MultipartBody {
  const chunks: Buffer[] = [];
  let length = 0;
  const push = (b: Buffer): void => {
    chunks.push(b);
    length += b.length;
  };
  for (const r of ranges) {
    push(Buffer.from(`\r\n--${BOUNDARY}\r\nContent-Type: ${partType}\r\nContent-Range: ${contentRange(r, size)}\r\n\r\n`, 'latin1'));
    const n = r.end - r.start + 1;
    if (view === undefined) length += n;
    else push(view(r.start, n));
  }
  push(Buffer.from(`\r\n--${BOUNDARY}--\r\n`, 'latin1'));
  return { contentType: `multipart/byteranges; boundary=${BOUNDARY}`, length, chunks };
}
