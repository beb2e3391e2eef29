// The ceiling of an edge's hits in Node, for the `hits` scenario only: node:http answering from
// Buffers it fetched whole from the origin once, with no HTTP semantics (no freshness, ranges,
// validators, CORS or Cache-Status; two headers and X-Cache). What segd's memory tier does per
// hit on top of this (its lookups, headers and checks) is the difference between the two rows.
//
//   node --import tsx bench/edge/bare-edge.ts --port N --origin-port M
//
//   GET /__probe    passed to the origin, not kept (readiness)
//   GET /__objects  how many objects it holds (the bench's cachedObjects)
//   GET <path>      from memory, or fetched from the origin, kept whole if it answered 200
import http from 'node:http';
import { ArgReader } from '../options.js';
import { exitOnSignals } from '../servers/lifecycle.js';

function parseFlags(argv: string[]): { port: number; originPort: number } {
  const args = new ArgReader(argv);
  let port = 0;
  let originPort = 0;
  for (let a = args.next(); a !== undefined; a = args.next()) {
    if (a === '--port') port = args.number(a, 1);
    else if (a === '--origin-port') originPort = args.number(a, 1);
    else throw new Error(`bare-edge: unknown flag ${a}`);
  }
  if (!port || !originPort) throw new Error('usage: bare-edge.ts --port N --origin-port M');
  return { port, originPort };
}

const { port, originPort } = parseFlags(process.argv.slice(2));
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const objects = new Map<string, { body: Buffer; type: string }>();

function fetchWhole(path: string): Promise<{ status: number; type: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: originPort, path, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 502, type: res.headers['content-type'] ?? 'application/octet-stream', body: Buffer.concat(chunks) }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

const server = http.createServer((req, res) => {
  const path = req.url ?? '/';
  const hit = objects.get(path);
  if (hit !== undefined) {
    res.writeHead(200, ['Content-Type', hit.type, 'Content-Length', String(hit.body.length), 'X-Cache', 'hit']);
    res.end(req.method === 'HEAD' ? undefined : hit.body);
    return;
  }
  if (path === '/__objects') {
    res.end(String(objects.size));
    return;
  }
  fetchWhole(path).then(
    (r) => {
      if (r.status === 200 && path !== '/__probe') objects.set(path, { body: r.body, type: r.type });
      res.writeHead(r.status, ['Content-Type', r.type, 'Content-Length', String(r.body.length), 'X-Cache', 'miss']);
      res.end(req.method === 'HEAD' ? undefined : r.body);
    },
    () => {
      res.writeHead(502, ['Content-Length', '0']);
      res.end();
    },
  );
});

server.listen(port, '127.0.0.1', () => console.log(`bare-edge: http://127.0.0.1:${port} in front of :${originPort}`));
exitOnSignals(server);
