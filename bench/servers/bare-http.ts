// What the two bare servers (bare.ts from Buffers, bare-pread.ts by pread) share: the little HTTP
// the scenarios need, and the media types of the bench content. (segd's own table is
// src/http/content-type.ts; the bare servers stay apart from segd's code.)
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import path from 'node:path';

const TYPES: Record<string, string> = {
  '.m3u8': 'application/vnd.apple.mpegurl',
  '.m4s': 'video/iso.segment',
  '.mp4': 'video/mp4',
};

export function typeOf(file: string): string {
  return TYPES[path.extname(file)] ?? 'application/octet-stream';
}

/** What a bare server knows of an object before it sends any of it. */
export interface BareObject {
  readonly size: number;
  readonly etag: string;
  readonly type: string;
}

const RANGE = /^bytes=(\d+)-(\d*)$/;

/**
 * A request listener with no HTTP semantics beyond the scenarios': 404 for what `find` does not
 * know (given the path without its query), an If-None-Match equal to the ETag → 304, one
 * "bytes=a-b" range → 206 (or 416), else 200; a HEAD gets no body. `send` ends `res` with the
 * object's bytes [start, start + length).
 */
export function bareHandler<O extends BareObject>(find: (path: string) => O | undefined, send: (o: O, start: number, length: number, res: ServerResponse) => void): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const o = find(q < 0 ? url : url.slice(0, q));
    if (!o) {
      res.writeHead(404, { 'content-length': 0 });
      res.end();
      return;
    }
    if (req.headers['if-none-match'] === o.etag) {
      res.writeHead(304, { etag: o.etag });
      res.end();
      return;
    }
    const m = req.headers.range ? RANGE.exec(req.headers.range) : null;
    let start = 0;
    let end = o.size - 1;
    if (m) {
      start = Number(m[1]);
      end = Math.min(m[2] ? Number(m[2]) : end, end);
      if (start > end) {
        res.writeHead(416, { 'content-range': `bytes */${o.size}`, 'content-length': 0 });
        res.end();
        return;
      }
      res.writeHead(206, { 'content-type': o.type, 'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${o.size}`, etag: o.etag });
    } else {
      res.writeHead(200, { 'content-type': o.type, 'content-length': o.size, etag: o.etag, 'accept-ranges': 'bytes' });
    }
    const length = end - start + 1;
    if (req.method === 'HEAD' || length === 0) return void res.end();
    send(o, start, length, res);
  };
}
