// The design's ceiling: node:http answering from Buffers pre-loaded in memory, with no HTTP
// semantics beyond what the scenarios need (a fixed ETag compared verbatim, one
// "bytes=a-b" range via subarray, HEAD without a body). Usage: bare.ts DIR PORT
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { exitOnSignals } from './lifecycle.js';
import { typeOf } from './types.js';

interface Entry {
  body: Buffer;
  etag: string;
  type: string;
}

const [dir, portArg] = process.argv.slice(2);
if (!dir || !portArg) {
  console.error('usage: bare.ts DIR PORT');
  process.exit(2);
}

const files = new Map<string, Entry>();
function load(rel: string): void {
  for (const d of readdirSync(path.join(dir!, rel), { withFileTypes: true })) {
    const r = `${rel}/${d.name}`;
    if (d.isDirectory()) load(r);
    else if (d.isFile()) {
      const body = readFileSync(path.join(dir!, r));
      const etag = `"${createHash('sha1').update(body.subarray(0, 65536)).digest('hex').slice(0, 16)}-${body.length}"`;
      files.set(r, { body, etag, type: typeOf(r) });
    }
  }
}
load('');

const RANGE = /^bytes=(\d+)-(\d*)$/;

const server = http.createServer((req, res) => {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const e = files.get(q < 0 ? url : url.slice(0, q));
  if (!e) {
    res.writeHead(404, { 'content-length': 0 });
    res.end();
    return;
  }
  const head = req.method === 'HEAD';
  if (req.headers['if-none-match'] === e.etag) {
    res.writeHead(304, { etag: e.etag });
    res.end();
    return;
  }
  const range = req.headers.range;
  const m = range ? RANGE.exec(range) : null;
  if (m) {
    const start = Number(m[1]);
    const end = Math.min(m[2] ? Number(m[2]) : e.body.length - 1, e.body.length - 1);
    if (start > end) {
      res.writeHead(416, { 'content-range': `bytes */${e.body.length}`, 'content-length': 0 });
      res.end();
      return;
    }
    res.writeHead(206, {
      'content-type': e.type,
      'content-length': end - start + 1,
      'content-range': `bytes ${start}-${end}/${e.body.length}`,
      etag: e.etag,
    });
    res.end(head ? undefined : e.body.subarray(start, end + 1));
    return;
  }
  res.writeHead(200, { 'content-type': e.type, 'content-length': e.body.length, etag: e.etag, 'accept-ranges': 'bytes' });
  res.end(head ? undefined : e.body);
});

server.listen(Number(portArg), '127.0.0.1', () => {
  console.log(`bare: ${files.size} files in memory, listening on http://127.0.0.1:${portArg}`);
});
exitOnSignals(server);
