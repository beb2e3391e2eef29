// The ceiling of serving from the page cache through user space: node:http answering each
// request with one synchronous pread of the bytes asked for into a recycled buffer, descriptors
// kept open, no checksum and no HTTP semantics beyond what the scenarios need (an ETag from size
// and mtime compared verbatim, one "bytes=a-b" range, HEAD without a body). It is the probe the
// cold-path issue was written from; in the `cold` scenario it shows what any design that copies
// bytes through user space can reach on the machine, next to segd, which also checks each block.
// Usage: bare-pread.ts DIR PORT
import { fstatSync, openSync, readSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { exitOnSignals } from './lifecycle.js';
import { typeOf } from './types.js';

interface Open {
  fd: number;
  size: number;
  etag: string;
  type: string;
}

const [dir, portArg] = process.argv.slice(2);
if (!dir || !portArg) {
  console.error('usage: bare-pread.ts DIR PORT');
  process.exit(2);
}
const root = path.resolve(dir);

/** Buffers up to this size are recycled; a larger body gets one of its own. */
const BUFFER = 4 * 1024 * 1024;
const spare: Buffer[] = [];
const files = new Map<string, Open | null>();

function openFile(rel: string): Open | null {
  let f = files.get(rel);
  if (f !== undefined) return f;
  const full = path.join(root, rel);
  f = null;
  if (full.startsWith(root + path.sep)) {
    try {
      const fd = openSync(full, 'r');
      const st = fstatSync(fd);
      f = st.isFile() ? { fd, size: st.size, etag: `"${Math.floor(st.mtimeMs).toString(16)}-${st.size.toString(16)}"`, type: typeOf(rel) } : null;
    } catch {
      f = null;
    }
  }
  files.set(rel, f);
  return f;
}

const RANGE = /^bytes=(\d+)-(\d*)$/;

const server = http.createServer((req, res) => {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const f = openFile(decodeURIComponent(q < 0 ? url : url.slice(0, q)));
  if (!f) {
    res.writeHead(404, { 'content-length': 0 });
    res.end();
    return;
  }
  if (req.headers['if-none-match'] === f.etag) {
    res.writeHead(304, { etag: f.etag });
    res.end();
    return;
  }
  const m = req.headers.range ? RANGE.exec(req.headers.range) : null;
  let start = 0;
  let end = f.size - 1;
  if (m) {
    start = Number(m[1]);
    end = Math.min(m[2] ? Number(m[2]) : end, end);
    if (start > end) {
      res.writeHead(416, { 'content-range': `bytes */${f.size}`, 'content-length': 0 });
      res.end();
      return;
    }
    res.writeHead(206, { 'content-type': f.type, 'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${f.size}`, etag: f.etag });
  } else {
    res.writeHead(200, { 'content-type': f.type, 'content-length': f.size, etag: f.etag, 'accept-ranges': 'bytes' });
  }
  const length = end - start + 1;
  if (req.method === 'HEAD' || length === 0) return void res.end();
  const buf = length <= BUFFER ? (spare.pop() ?? Buffer.allocUnsafeSlow(BUFFER)) : Buffer.allocUnsafe(length);
  const n = readSync(f.fd, buf, 0, length, start);
  res.end(buf.subarray(0, n), () => {
    if (buf.length === BUFFER) spare.push(buf);
  });
});

server.listen(Number(portArg), '127.0.0.1', () => {
  console.log(`bare-pread: serving ${root} on http://127.0.0.1:${portArg}`);
});
exitOnSignals(server);
