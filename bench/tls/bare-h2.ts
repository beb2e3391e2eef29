// The TLS bench's HTTP/2 ceiling: node:http2's stream API answering each GET from memory (every
// file of the content read at start) with segd's certificate, TLS settings and stream limits, and
// no HTTP semantics at all. What node:http2 itself costs per request, so segd's HTTP/2 rows can be
// read as a share of what Node can do.
//
//   node --import tsx bench/tls/bare-h2.ts PORT CERT KEY ROOT     (prints "listening" when ready)
import http2 from 'node:http2';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { loadTls } from '../../src/server/tls.js';

const [port, cert, key, root] = process.argv.slice(2) as [string, string, string, string];

const files = new Map<string, Buffer>();
const walk = (dir: string): void => {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else files.set(`/${path.relative(root, p).split(path.sep).join('/')}`, readFileSync(p));
  }
};
walk(root);

const server = http2.createSecureServer({ ...loadTls({ cert, key }), settings: { maxConcurrentStreams: 128 }, maxSessionMemory: 160 });
server.on('stream', (stream, headers) => {
  const body = files.get(String(headers[':path']).split('?')[0]!);
  if (body === undefined) {
    stream.respond({ ':status': 404 }, { endStream: true });
    return;
  }
  stream.respond({ ':status': 200, 'content-length': body.length });
  stream.end(body);
});
server.on('sessionError', () => undefined);
server.listen(Number(port), '127.0.0.1', () => console.log('listening'));
