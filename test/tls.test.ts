/**
 * HTTPS with HTTP/2 and HTTP/1.1 on one port: what only TLS and HTTP/2 have. The HTTP behaviour
 * itself (ranges, conditionals, integrity, the edge) runs over both protocols in the h2 project
 * of vitest.config.ts.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { connect as h2connect, constants as h2, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { chmodSync, copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { startServer, type RunningServer } from '../src/server/listen.js';
import { ReadTier } from '../src/store/read-tier.js';
import { serverWrites } from './helpers/writes.js';
import { get, metric } from './helpers/http.js';
import { testPki } from './helpers/pki.js';
import { capturedDiagnostics } from './helpers/diagnostics.js';
import { cli } from './helpers/cli.js';
import { eventually } from './helpers/wait.js';
import { random, tempTree, type TempTree } from './helpers/content.js';

const pki = testPki();
let tree: TempTree;
let srv: RunningServer;
const big = random(8 * 1024 * 1024);
const seg = random(300_000);

beforeAll(async () => {
  tree = tempTree();
  tree.write('vod/big.m4s', big);
  tree.write('vod/seg.m4s', seg);
  srv = await startServer({ root: tree.dir, host: '127.0.0.1', port: 0, httpPort: 0, threads: 1, player: false, tls: pki.files, hstsMaxAge: 600, idleTimeoutMs: 1000 });
});

afterAll(async () => {
  await srv?.close(1000);
  tree?.remove();
});

function session(url = srv.url, settings?: { initialWindowSize?: number }): ClientHttp2Session {
  const s = h2connect(url, { ca: pki.ca, settings });
  s.on('error', () => undefined);
  return s;
}

function fetchOn(s: ClientHttp2Session, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const r = s.request({ ':path': path, ...headers });
    const chunks: Buffer[] = [];
    let head: Record<string, unknown> = {};
    r.on('response', (h) => (head = h));
    r.on('data', (c: Buffer) => chunks.push(c));
    r.on('end', () => resolve({ status: Number(head[':status']), body: Buffer.concat(chunks), headers: head }));
    r.on('error', reject);
  });
}

function closed(s: ClientHttp2Session): Promise<void> {
  return new Promise((resolve) => (s.closed || s.destroyed ? resolve() : s.once('close', () => resolve())));
}

describe('one port, two protocols', () => {
  it('offers h2 and http/1.1 by ALPN, TLS 1.2 and 1.3 only, and HSTS on HTTPS answers only', async () => {
    const negotiated = (alpn: string[], maxVersion: 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3' = 'TLSv1.3', ciphers?: string): Promise<{ alpn: string | false | null; version: string | null } | Error> =>
      new Promise((resolve) => {
        const u = new URL(srv.url);
        const sock: TLSSocket = tlsConnect({ host: u.hostname, port: Number(u.port), ca: pki.ca, ALPNProtocols: alpn, maxVersion, minVersion: maxVersion === 'TLSv1.1' ? 'TLSv1' : 'TLSv1.2', ...(ciphers === undefined ? {} : { ciphers }) }, () => {
          resolve({ alpn: sock.alpnProtocol, version: sock.getProtocol() });
          sock.end();
        });
        sock.on('error', (e) => resolve(e));
      });
    expect(await negotiated(['h2', 'http/1.1'])).toEqual({ alpn: 'h2', version: 'TLSv1.3' });
    expect(await negotiated(['http/1.1'])).toEqual({ alpn: 'http/1.1', version: 'TLSv1.3' });
    expect(await negotiated(['h2'], 'TLSv1.2')).toEqual({ alpn: 'h2', version: 'TLSv1.2' });
    expect(await negotiated(['h2'], 'TLSv1.1')).toBeInstanceOf(Error);
    expect(await negotiated(['http/1.1'], 'TLSv1.2', 'ECDHE-ECDSA-AES128-SHA256')).toBeInstanceOf(Error); // TLS 1.2: AEAD suites only, not Node's default CBC ones
    await eventually(async () => (await metric(srv.httpUrl!, 'segd_tls_handshake_failures_total')) >= 1, { what: 'the refused handshake counted' });

    const s = session();
    const viaH2 = await fetchOn(s, '/vod/seg.m4s');
    s.close();
    expect(viaH2.status).toBe(200);
    expect(viaH2.body.equals(seg)).toBe(true);
    expect(viaH2.headers['strict-transport-security']).toBe('max-age=600');
    const viaH1 = await get(srv.url, '/vod/seg.m4s'); // https: HTTP/1.1 over TLS
    expect(viaH1.body.equals(seg)).toBe(true);
    expect(viaH1.headers['strict-transport-security']).toBe('max-age=600');
    const plain = await get(srv.httpUrl!, '/vod/seg.m4s');
    expect(plain.body.equals(seg)).toBe(true);
    expect(plain.headers['strict-transport-security']).toBeUndefined();
  });
});

describe('HTTPS/1.1 bodies', () => {
  /**
   * The plaintext of each TLS record of a GET's answer, in order: node's TLS socket decrypts a
   * record per read (at most 16 KiB), so a head sent on its own arrives as a chunk of its own.
   */
  function records(url: string, path: string): Promise<Buffer[]> {
    return new Promise((resolve, reject) => {
      const u = new URL(url);
      const chunks: Buffer[] = [];
      const sock = tlsConnect({ host: u.hostname, port: Number(u.port), ca: pki.ca, ALPNProtocols: ['http/1.1'] }, () => {
        sock.write(`GET ${path} HTTP/1.1\r\nHost: ${u.host}\r\nConnection: close\r\n\r\n`);
      });
      sock.on('data', (c: Buffer) => chunks.push(c));
      sock.on('end', () => resolve(chunks));
      sock.on('error', reject);
    });
  }

  it('a large body goes after a head of its own (not joined to it, which copies the body); a small one with it', async () => {
    const r = await records(srv.url, '/vod/seg.m4s');
    const head = r[0]!.toString('latin1');
    expect(head).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\n$/); // the head and nothing else
    expect(Buffer.concat(r.slice(1)).equals(seg)).toBe(true);

    tree.write('vod/small.m4s', seg.subarray(0, 1000));
    const small = Buffer.concat(await records(srv.url, '/vod/small.m4s'));
    expect(small.subarray(small.indexOf('\r\n\r\n') + 4).equals(seg.subarray(0, 1000))).toBe(true);
    expect((await records(srv.url, '/vod/small.m4s'))[0]!.length).toBeGreaterThan(1000); // head and body in one record

    // 64 KiB is the first size sent apart.
    tree.write('vod/edge.m4s', seg.subarray(0, 64 * 1024));
    tree.write('vod/below.m4s', seg.subarray(0, 64 * 1024 - 1));
    expect((await records(srv.url, '/vod/edge.m4s'))[0]!.toString('latin1')).toMatch(/\r\n\r\n$/);
    expect((await records(srv.url, '/vod/below.m4s'))[0]!.toString('latin1')).not.toMatch(/\r\n\r\n$/);
  });

  /** Over HTTPS/1.1 a large body goes a 128 KiB slice at a time, each once the socket took the one before (no queued writes); plain HTTP/1.1 hands it over whole. */
  async function expectSliced(url: string, path: string, body: Buffer): Promise<void> {
    const { writes } = await serverWrites(async () => expect(Buffer.concat((await records(url, path)).slice(1)).equals(body)).toBe(true)); // the head apart
    expect(writes.filter((w) => w.length > 1)).toEqual([]);
    const sizes = writes.flat().filter((n) => n > 1000); // the head aside
    expect(Math.max(...sizes)).toBe(128 * 1024);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(body.length);
  }

  it('a large body goes to OpenSSL a slice at a time, each once the socket has taken the one before; over plain HTTP, whole', async () => {
    await expectSliced(srv.url, '/vod/big.m4s', big);
    const plain = await serverWrites(async () => expect((await get(srv.httpUrl!, '/vod/big.m4s')).body.equals(big)).toBe(true));
    expect(Math.max(...plain.writes.flat())).toBe(big.length);
    // Up to one slice, one write.
    tree.write('vod/slice.m4s', big.subarray(0, 128 * 1024));
    expect((await serverWrites(() => records(srv.url, '/vod/slice.m4s'))).writes.flat().filter((n) => n > 1000)).toEqual([128 * 1024]);
  });

  it("without Nagle's algorithm, as node:http and node:http2 set their own connections", async () => {
    // With it, each slice's last partial TCP segment waits for the client's ACK of the one
    // before: a quarter off 1 MiB segments under load here. Node has no getsockopt(); the TCP
    // socket under the TLS one keeps what was asked of it.
    const noDelay = (s: Socket): unknown => {
      const tcp = (s as unknown as { _parent: Record<symbol, unknown> })._parent;
      return tcp[Object.getOwnPropertySymbols(tcp).find((k) => k.description === 'kSetNoDelay')!];
    };
    const { sockets } = await serverWrites(() => records(srv.url, '/vod/seg.m4s'));
    expect(sockets.size).toBe(1);
    for (const s of sockets) expect(noDelay(s)).toBe(true);
  });

  it('the same for a body read from its file (the read tier)', async () => {
    const t = tempTree();
    t.write('cold.m4s', big);
    const s = await startServer({ root: t.dir, host: '127.0.0.1', port: 0, threads: 1, player: false, tls: pki.files, cacheSize: '1MiB' });
    try {
      await records(s.url, '/cold.m4s'); // its load: read whole, then known to the read tier
      const r = await records(s.url, '/cold.m4s');
      expect(await metric(s.url, 'segd_cache_hits_total{tier="read"}')).toBe(1);
      expect(r[0]!.toString('latin1')).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\n$/);
      expect(Buffer.concat(r.slice(1)).equals(big)).toBe(true);
      // Each chunk's buffer goes back to the tier once the socket has its last slice.
      const recycled = vi.spyOn(ReadTier.prototype, 'recycle');
      try {
        await expectSliced(s.url, '/cold.m4s', big);
        await eventually(() => recycled.mock.calls.length === big.length / (1024 * 1024), { what: 'every 1 MiB chunk recycled' });
      } finally {
        recycled.mockRestore();
      }
      expect(await metric(s.url, 'segd_cache_hits_total{tier="read"}')).toBe(2);
    } finally {
      await s.close(1000);
      t.remove();
    }
  });
  it('bodies read at once from their files each get their own bytes: a chunk goes back to the tier only once its last slice is out', async () => {
    const t = tempTree();
    const files = Array.from({ length: 4 }, () => random(4 * 1024 * 1024));
    files.forEach((b, i) => t.write(`cold${i}.m4s`, b));
    const s = await startServer({ root: t.dir, host: '127.0.0.1', port: 0, threads: 1, player: false, tls: pki.files, cacheSize: '1MiB' });
    try {
      for (const i of files.keys()) await records(s.url, `/cold${i}.m4s`); // their loads
      for (let round = 0; round < 3; round++) {
        const got = await Promise.all(files.map((_, i) => records(s.url, `/cold${i}.m4s`)));
        for (const [i, r] of got.entries()) expect(Buffer.concat(r.slice(1)).equals(files[i]!), `cold${i}.m4s, round ${round}`).toBe(true);
      }
      expect(await metric(s.url, 'segd_cache_hits_total{tier="read"}')).toBe(3 * files.length);
    } finally {
      await s.close(1000);
      t.remove();
    }
  });
});

describe('HTTP/2 streams', () => {
  it('serves many concurrent streams on one connection, by :authority alone, each byte exact', async () => {
    const s = session();
    const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => fetchOn(s, '/vod/seg.m4s', i % 2 ? { range: `bytes=${i * 100}-${i * 100 + 999}` } : {})));
    for (const [i, r] of replies.entries()) {
      if (i % 2) {
        expect(r.status).toBe(206);
        expect(r.body.equals(seg.subarray(i * 100, i * 100 + 1000))).toBe(true);
      } else {
        expect(r.status).toBe(200);
        expect(r.body.equals(seg)).toBe(true);
      }
    }
    s.close();
  });

  it('a stream reset mid-body frees its response: the connection stays usable and a drain does not wait for it', async () => {
    const own = await startServer({ root: tree.dir, host: '127.0.0.1', port: 0, threads: 1, player: false, tls: pki.files });
    const s = session(own.url, { initialWindowSize: 65535 });
    const stream: ClientHttp2Stream = s.request({ ':path': '/vod/big.m4s' });
    await new Promise<void>((resolve) => stream.once('data', () => resolve()));
    stream.close(h2.NGHTTP2_CANCEL);
    expect((await fetchOn(s, '/vod/seg.m4s')).body.equals(seg)).toBe(true);
    const t0 = Date.now();
    await own.close(20_000); // GOAWAY: the session ends once no stream is open
    expect(Date.now() - t0).toBeLessThan(5000);
    await closed(s);
  });

  it('a slow reader gets every byte (flow control), and one that stops reading is closed by the stall sweep', async () => {
    const slow = session(srv.url, { initialWindowSize: 16 * 1024 });
    const stream = slow.request({ ':path': '/vod/big.m4s' });
    const chunks: Buffer[] = [];
    stream.pause();
    const reader = setInterval(() => {
      for (let c = stream.read() as Buffer | null; c !== null; c = stream.read() as Buffer | null) chunks.push(c);
    }, 5);
    await new Promise<void>((resolve, reject) => {
      stream.on('end', resolve);
      stream.on('error', reject);
      stream.on('readable', () => undefined);
    });
    clearInterval(reader);
    expect(Buffer.concat(chunks).equals(big)).toBe(true);
    slow.close();

    const stuck = session(srv.url, { initialWindowSize: 16 * 1024 });
    const s2 = stuck.request({ ':path': '/vod/big.m4s' });
    s2.pause(); // never reads: the window stays shut, the server can send nothing more
    const before = await metric(srv.httpUrl!, 'segd_connections');
    await closed(stuck); // idleTimeoutMs is 1 s here
    expect(before).toBeGreaterThanOrEqual(1);
  });

  /**
   * A TLS connection speaking raw HTTP/2 frames, for clients that break the rules, to a server of
   * its own with the default stall timeout (60 s): what closes the connection within the test's
   * time is HTTP/2's own guard, not the stall sweep.
   */
  async function rawH2(url: string): Promise<{ sock: TLSSocket; ended: Promise<void>; frames: { type: number; code: number }[] }> {
    const u = new URL(url);
    const sock = tlsConnect({ host: u.hostname, port: Number(u.port), ca: pki.ca, ALPNProtocols: ['h2'] });
    await new Promise<void>((resolve, reject) => {
      sock.once('secureConnect', resolve);
      sock.once('error', reject);
    });
    sock.on('error', () => undefined);
    const ended = new Promise<void>((resolve) => sock.once('close', () => resolve()));
    const frames: { type: number; code: number }[] = [];
    let pending = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      pending = Buffer.concat([pending, d]);
      while (pending.length >= 9 && pending.length >= 9 + pending.readUIntBE(0, 3)) {
        const len = pending.readUIntBE(0, 3);
        const type = pending[3]!;
        // RST_STREAM's payload is its error code; GOAWAY's comes after the last stream id.
        const code = type === 0x3 ? pending.readUInt32BE(9) : type === 0x7 ? pending.readUInt32BE(13) : 0;
        frames.push({ type, code });
        pending = pending.subarray(9 + len);
      }
    });
    sock.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    sock.write(frame(0x4, 0, 0, Buffer.alloc(0))); // our (empty) SETTINGS
    return { sock, ended, frames };
  }

  function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
    const head = Buffer.alloc(9);
    head.writeUIntBE(payload.length, 0, 3);
    head[3] = type;
    head[4] = flags;
    head.writeUInt32BE(stream, 5);
    return Buffer.concat([head, payload]);
  }

  it('streams past the limit are refused; a flood of opened and reset streams closes that connection; others are served', async () => {
    const own = await startServer({ root: tree.dir, host: '127.0.0.1', port: 0, threads: 1, player: false, tls: pki.files });
    try {
      const { sock, ended, frames } = await rawH2(own.url);
      // GET /vod/big.m4s in HPACK: :method GET, :scheme https (static 2, 7), :path and :authority as literals.
      const path = Buffer.from('/vod/big.m4s');
      const block = Buffer.concat([Buffer.from([0x82, 0x87, 0x04, path.length]), path, Buffer.from([0x41, 9]), Buffer.from('localhost')]);
      const ok = session(own.url);
      // Far more than the 128 streams allowed at once; none is read, so none finishes. The rest
      // are refused by nghttp2 before they cost segd anything.
      let id = 1;
      for (; id < 2000; id += 2) sock.write(frame(0x1, 0x5, id, block)); // HEADERS, END_STREAM|END_HEADERS
      await eventually(() => frames.filter((f) => f.type === 0x3 && f.code === h2.NGHTTP2_REFUSED_STREAM).length === 1000 - 128, { what: 'every stream past the limit refused' });
      await eventually(() => frames.filter((f) => f.type === 0x1).length === 128, { what: 'the streams within the limit answered' });
      expect(sock.destroyed).toBe(false);
      // "Rapid reset" (CVE-2023-44487): streams opened and cancelled at once never exceed the
      // limit, but each costs the server work. Past a rate, the connection is closed.
      let over = false;
      void ended.then(() => (over = true));
      for (let n = 0; n < 50_000 && !over; n++, id += 2) {
        sock.write(Buffer.concat([frame(0x1, 0x5, id, block), frame(0x3, 0, id, Buffer.from([0, 0, 0, 0x8]))])); // HEADERS, RST_STREAM(CANCEL)
        if (n % 500 === 0) await new Promise((r) => setImmediate(r));
      }
      await ended;
      expect(over).toBe(true);
      expect((await fetchOn(ok, '/vod/seg.m4s')).body.equals(seg)).toBe(true);
      ok.close();
    } finally {
      await own.close(1000);
    }
  });

  it('a flood of SETTINGS frames closes that connection; others are unaffected', async () => {
    const own = await startServer({ root: tree.dir, host: '127.0.0.1', port: 0, threads: 1, player: false, tls: pki.files });
    try {
      const { sock, ended } = await rawH2(own.url);
      sock.pause(); // read no ACK: they pile up on the server's side once the socket buffers are full
      let over = false;
      void ended.then(() => (over = true));
      const settings = frame(0x4, 0, 0, Buffer.from([0, 0x3, 0, 0, 0, 100])); // MAX_CONCURRENT_STREAMS=100
      const batch = Buffer.concat(Array.from({ length: 65_536 }, () => settings));
      for (let sent = 0; !over && sent < 256 * 1024 * 1024; sent += batch.length) {
        if (!sock.write(batch)) await Promise.race([new Promise((r) => sock.once('drain', r)), ended]);
      }
      sock.resume();
      await ended;
      expect(over).toBe(true);
      const ok = session(own.url);
      expect((await fetchOn(ok, '/vod/seg.m4s')).body.equals(seg)).toBe(true);
      ok.close();
    } finally {
      await own.close(1000);
    }
  });
});

describe('certificates', () => {
  it('reloads a renewed certificate without a restart, and keeps the old one when the new pair is bad', async () => {
    const dir = tempTree('segd-certs-');
    const cert = join(dir.dir, 'cert.pem');
    const key = join(dir.dir, 'key.pem');
    copyFileSync(pki.files.cert, cert);
    copyFileSync(pki.files.key, key);
    chmodSync(key, 0o600);
    const { diag, lines } = capturedDiagnostics();
    const own = await startServer({ root: tree.dir, host: '127.0.0.1', port: 0, httpPort: 0, threads: 1, player: false, tls: { cert, key }, diagnostics: diag });
    const served = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const u = new URL(own.url);
        const sock = tlsConnect({ host: u.hostname, port: Number(u.port), ca: pki.ca }, () => {
          resolve(new X509Certificate(sock.getPeerCertificate(true).raw).fingerprint256);
          sock.end();
        });
        sock.on('error', reject);
      });
    try {
      const first = await served();
      expect(first).toBe(new X509Certificate(readFileSync(pki.files.cert)).fingerprint256);

      // A bad pair (a certificate with another certificate's key) is refused; the old one stays.
      const renewed = pki.issue('renewed');
      copyFileSync(renewed.cert, cert);
      expect(own.reloadTls()).toBe(false);
      expect(await served()).toBe(first);
      const refusal = lines.find((l) => l.msg === 'the new TLS certificate does not load; the old one stays in use');
      expect(refusal?.reason).toMatch(/key values mismatch|mismatch/i);
      expect(await metric(own.httpUrl!, 'segd_tls_reloads_total{result="failed"}')).toBe(1);

      // The matching key arrives: the watcher picks the pair up by itself.
      copyFileSync(renewed.key, key);
      const next = new X509Certificate(readFileSync(renewed.cert)).fingerprint256;
      await eventually(async () => (await served()) === next, { timeoutMs: 10_000, what: 'the renewed certificate in use' });
      expect(await metric(own.httpUrl!, 'segd_tls_reloads_total{result="ok"}')).toBeGreaterThanOrEqual(1);
      expect(lines.find((l) => l.msg === 'TLS certificate reloaded')).toMatchObject({ why: 'file change', cert });
      expect(own.reloadTls()).toBe(true); // on demand (SIGHUP), a good pair says so
      expect(lines.some((l) => l.msg === 'the TLS private key is readable by other users')).toBe(false); // 0600 is fine

      // Nothing of the key reaches a log line.
      const keyBody = readFileSync(key, 'utf8').split('\n')[1]!;
      expect(JSON.stringify(lines)).not.toContain(keyBody);
    } finally {
      await own.close(1000);
      dir.remove();
    }
  });

  it('warns about a key others can read, and refuses a pair that does not load at start', async () => {
    const dir = tempTree('segd-certs-');
    const key = join(dir.dir, 'key.pem');
    copyFileSync(pki.files.key, key);
    chmodSync(key, 0o644);
    const { diag, lines } = capturedDiagnostics();
    const own = await startServer({ root: tree.dir, host: '127.0.0.1', port: 0, threads: 1, player: false, tls: { cert: pki.files.cert, key }, diagnostics: diag });
    await own.close(1000);
    expect(lines.find((l) => l.msg === 'the TLS private key is readable by other users')).toMatchObject({ file: key, mode: '0644' });

    writeFileSync(join(dir.dir, 'junk.pem'), 'not a certificate\n');
    await expect(startServer({ root: tree.dir, port: 0, threads: 1, player: false, tls: { cert: join(dir.dir, 'junk.pem'), key } })).rejects.toThrow(/do not load/);
    await expect(startServer({ root: tree.dir, port: 0, threads: 1, player: false, tls: { cert: join(dir.dir, 'missing.pem'), key } })).rejects.toThrow(/cannot read the TLS certificate .*ENOENT/);
    await expect(startServer({ root: tree.dir, port: 0, threads: 1, player: false, httpPort: 0 })).rejects.toThrow(/need HTTPS/);
    dir.remove();
  });

  it('the CLI: --tls-cert needs --tls-key, and SIGHUP reloads the certificate', async () => {
    const lone = cli(['serve', tree.dir, '--port', '0', '--tls-cert', pki.files.cert]);
    expect(await lone.exited).toBe(2);
    expect(lone.stderr()).toContain('--tls-cert and --tls-key go together');

    const run = cli(['serve', tree.dir, '--port', '0', '--no-player', '--workers', '1', '--tls-cert', pki.files.cert, '--tls-key', pki.files.key], { until: /serving/ });
    try {
      const out = await run.ready;
      const url = /"url":"(https:[^"]+)"/.exec(out)?.[1];
      expect(url).toBeDefined();
      expect((await get(url!, '/vod/seg.m4s')).body.equals(seg)).toBe(true);
      run.child.kill('SIGHUP');
      await eventually(() => run.stderr().includes('TLS certificate reloaded'), { what: 'the reload logged' });
      expect((await get(url!, '/vod/seg.m4s')).status).toBe(200); // still serving
    } finally {
      run.child.kill('SIGTERM');
      await run.exited;
    }
  });
});
