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
import { bareHandler, typeOf, type BareObject } from './bare-http.js';
import { dirAndPort, exitOnSignals } from './lifecycle.js';

interface Open extends BareObject {
  fd: number;
}

const { dir, port } = dirAndPort('bare-pread.ts');
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

const server = http.createServer(
  bareHandler(
    (p) => openFile(decodeURIComponent(p)) ?? undefined,
    (f, start, length, res) => {
      const buf = length <= BUFFER ? (spare.pop() ?? Buffer.allocUnsafeSlow(BUFFER)) : Buffer.allocUnsafe(length);
      const n = readSync(f.fd, buf, 0, length, start);
      res.end(buf.subarray(0, n), () => {
        if (buf.length === BUFFER) spare.push(buf);
      });
    },
  ),
);

server.listen(port, '127.0.0.1', () => {
  console.log(`bare-pread: serving ${root} on http://127.0.0.1:${port}`);
});
exitOnSignals(server);
