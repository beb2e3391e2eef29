// The design's ceiling: node:http answering from Buffers pre-loaded in memory, with no HTTP
// semantics beyond what the scenarios need (a fixed ETag compared verbatim, one
// "bytes=a-b" range via subarray, HEAD without a body). Usage: bare.ts DIR PORT
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { bareHandler, typeOf, type BareObject } from './bare-http.js';
import { dirAndPort, exitOnSignals } from './lifecycle.js';

interface Entry extends BareObject {
  body: Buffer;
}

const { dir, port } = dirAndPort('bare.ts');

const files = new Map<string, Entry>();
function load(rel: string): void {
  for (const d of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = `${rel}/${d.name}`;
    if (d.isDirectory()) load(r);
    else if (d.isFile()) {
      const body = readFileSync(path.join(dir, r));
      const etag = `"${createHash('sha1').update(body.subarray(0, 65536)).digest('hex').slice(0, 16)}-${body.length}"`;
      files.set(r, { body, size: body.length, etag, type: typeOf(r) });
    }
  }
}
load('');

const server = http.createServer(
  bareHandler(
    (p) => files.get(p),
    (e, start, length, res) => res.end(e.body.subarray(start, start + length)),
  ),
);

server.listen(port, '127.0.0.1', () => {
  console.log(`bare: ${files.size} files in memory, listening on http://127.0.0.1:${port}`);
});
exitOnSignals(server);
