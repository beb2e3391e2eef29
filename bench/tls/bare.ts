// The TLS bench's ceilings: Node answering each GET from memory (every file of the content read
// at start) with segd's certificate and TLS settings, and no HTTP semantics at all. What Node
// itself costs per request, so segd's rows can be read as a share of what Node can do.
//
// Three forms:
// - h2: node:http2's stream API, `:status` and `content-length` only, segd's stream limits (the
//   bench's node-h2);
// - h2-fields: the same with the header fields segd sends for each file (its own describe(),
//   made once per file at start) sent as segd sends them (h2-heads.ts): node:http2's cost of
//   segd's answer with none of segd's work (the bench's node-h2-fields);
// - https: node:https, `content-length` only, each body handed to `res.end()` whole, as a
//   plain node:https server would (the bench's node-https, HTTPS/1.1 without ranges).
//
//   node --import tsx bench/tls/bare.ts PORT CERT KEY ROOT [h2|h2-fields|https]     (prints "listening" when ready)
import http2 from 'node:http2';
import https from 'node:https';
import { readdirSync, readFileSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import { loadTls } from '../../src/server/tls.js';
import { describe } from '../../src/serve/representation.js';
import { DEFAULT_CACHE_POLICY } from '../../src/http/cache-control.js';
import { CorsPolicy } from '../../src/http/cors.js';
import { HeadSender } from '../../src/server/h2-heads.js';
import { crc32c } from '../../src/catalogue/crc.js';
import { isPlaylistPath, readPlaylistFacts } from '../../src/catalogue/playlist.js';

const FORMS = ['h2', 'h2-fields', 'https'];
const [port, cert, key, root, form = 'h2'] = process.argv.slice(2) as [string, string, string, string, string?];
if (!FORMS.includes(form)) throw new Error(`unknown form ${form}: ${FORMS.join(', ')}`);

/** segd's header list for a file, as its folder path describes it (playlists are kept compressed too: they vary by Accept-Encoding). */
function fieldsOf(file: string, st: Stats, body: Buffer): readonly string[] {
  const playlist = isPlaylistPath(file) ? readPlaylistFacts(body.toString('utf8')).facts : undefined;
  const rep = describe(
    { file, size: body.length, mtimeMs: st.mtimeMs, ino: st.ino, crc32c: crc32c(body), blocks: undefined, playlist, gzip: playlist && Buffer.alloc(0), br: undefined },
    { cachePolicy: DEFAULT_CACHE_POLICY, corsHeaders: new CorsPolicy().staticHeaders() },
  );
  return rep.identity.full;
}

const files = new Map<string, { body: Buffer; fields: readonly string[] }>();
const walk = (dir: string): void => {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) walk(p);
    else {
      const body = readFileSync(p);
      files.set(`/${path.relative(root, p).split(path.sep).join('/')}`, { body, fields: form === 'h2-fields' ? fieldsOf(p, st, body) : [] });
    }
  }
};
walk(root);

const fileOf = (p: string | undefined): { body: Buffer; fields: readonly string[] } | undefined => files.get(String(p).split('?')[0]!);
const tls = loadTls({ cert, key });
const listening = (): void => console.log('listening');

if (form === 'https') {
  https
    .createServer(tls, (req, res) => {
      const f = fileOf(req.url);
      if (f === undefined) res.writeHead(404, { 'content-length': 0 }).end();
      else res.writeHead(200, { 'content-length': f.body.length }).end(f.body);
    })
    .listen(Number(port), '127.0.0.1', listening);
} else {
  const heads = new HeadSender();
  const server = http2.createSecureServer({ ...tls, settings: { maxConcurrentStreams: 128 }, maxSessionMemory: 160 });
  server.on('stream', (stream, headers) => {
    const f = fileOf(headers[':path']);
    if (f === undefined) {
      stream.respond({ ':status': 404 }, { endStream: true });
      return;
    }
    if (form === 'h2-fields') heads.respond(stream, 200, f.fields, undefined, false);
    else stream.respond({ ':status': 200, 'content-length': f.body.length });
    stream.end(f.body);
  });
  server.on('sessionError', () => undefined);
  server.listen(Number(port), '127.0.0.1', listening);
}
