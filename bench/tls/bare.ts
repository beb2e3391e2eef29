// The TLS bench's HTTP/2 ceilings: node:http2's stream API answering each GET from memory (every
// file of the content read at start) with segd's certificate, TLS settings and stream limits, and
// no HTTP semantics at all. What node:http2 itself costs per request, so segd's HTTP/2 rows can be
// read as a share of what Node can do.
//
// Two forms:
// - bare: `:status` and `content-length` only (the bench's node-h2);
// - fields: the header fields segd sends for each file (its own describe(), made once per file at
//   start) sent as segd sends them (h2-heads.ts): node:http2's cost of segd's answer with none of
//   segd's work (the bench's node-h2-fields).
//
//   node --import tsx bench/tls/bare-h2.ts PORT CERT KEY ROOT [bare|fields]     (prints "listening" when ready)
import http2 from 'node:http2';
import { readdirSync, readFileSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import { loadTls } from '../../src/server/tls.js';
import { describe } from '../../src/serve/representation.js';
import { DEFAULT_CACHE_POLICY } from '../../src/http/cache-control.js';
import { CorsPolicy } from '../../src/http/cors.js';
import { HeadSender } from '../../src/server/h2-heads.js';
import { crc32c } from '../../src/catalogue/crc.js';
import { isPlaylistPath, readPlaylistFacts } from '../../src/catalogue/playlist.js';

const [port, cert, key, root, form = 'bare'] = process.argv.slice(2) as [string, string, string, string, string?];
if (form !== 'bare' && form !== 'fields') throw new Error(`unknown form ${form}: bare or fields`);

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
      files.set(`/${path.relative(root, p).split(path.sep).join('/')}`, { body, fields: form === 'fields' ? fieldsOf(p, st, body) : [] });
    }
  }
};
walk(root);

const heads = new HeadSender();
const server = http2.createSecureServer({ ...loadTls({ cert, key }), settings: { maxConcurrentStreams: 128 }, maxSessionMemory: 160 });
server.on('stream', (stream, headers) => {
  const f = files.get(String(headers[':path']).split('?')[0]!);
  if (f === undefined) {
    stream.respond({ ':status': 404 }, { endStream: true });
    return;
  }
  if (form === 'fields') heads.respond(stream, 200, f.fields, undefined, false);
  else stream.respond({ ':status': 200, 'content-length': f.body.length });
  stream.end(f.body);
});
server.on('sessionError', () => undefined);
server.listen(Number(port), '127.0.0.1', () => console.log('listening'));
