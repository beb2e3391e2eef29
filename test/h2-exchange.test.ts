/**
 * HTTP/2 on node:http2's stream API (src/server/h2-exchange.ts): what the request and response
 * objects segd's handler gets over HTTP/2 do at the protocol level. The HTTP behaviour through
 * them (ranges, conditionals, resets, the edge) is the h2 project of vitest.config.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, constants, createSecureServer, type ClientHttp2Session, type Http2SecureServer, type IncomingHttpHeaders, type ServerHttp2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { answerStreams, H2Request, H2Response } from '../src/server/h2-exchange.js';
import { testPki } from './helpers/pki.js';
import { eventually } from './helpers/wait.js';

const pki = testPki();
let server: Http2SecureServer;
let url: string;
let answered: boolean;
/** What the handler saw of each request, in order. */
const seen: Array<{ req: unknown; res: unknown }> = [];
const sessions = new Set<ServerHttp2Session>();
/** What res.write returned after the stream was reset. */
const lateWrites: boolean[] = [];
/** Streams whose response emitted 'close', by path. */
const closes: string[] = [];

const FROZEN = Object.freeze(['Content-Type', 'text/plain', 'Content-Length', '2']);

/** The handler: each path exercises one part of the response's surface. */
function handler(req: H2Request, res: H2Response): void {
  seen.push({ req, res });
  res.once('close', () => closes.push(req.url));
  switch (req.url) {
    case '/list':
      res.writeHead(200, [
        'Content-Type', 'text/plain', 'Vary', 'Origin', 'Vary', 'Accept-Encoding', 'Vary', 'Range', 'Content-Length', '5',
        'Connection', 'close', 'Keep-Alive', 'timeout=5', 'Proxy-Connection', 'keep-alive', 'Transfer-Encoding', 'chunked', 'Upgrade', 'h2c',
      ]);
      res.end(Buffer.from('hello'));
      return;
    case '/frozen':
      res.writeHead(200, FROZEN); // as a representation's list: kept by the sender across answers
      res.end(Buffer.from('ok'));
      return;
    case '/streamed':
      res.writeHead(200, ['Content-Type', 'application/octet-stream']);
      res.flushHeaders();
      res.write(Buffer.from('ab'));
      res.write(Buffer.from('cd'));
      res.end();
      return;
    case '/not-modified':
      res.writeHead(304, ['ETag', '"x"']);
      res.flushHeaders(); // as a fill does before its first byte
      res.write(Buffer.from('never sent'));
      res.end();
      return;
    case '/bad-header':
      // A value node:http2 refuses throws from end(), as from node:http's; the 500 can still go.
      try {
        res.writeHead(200, ['X Bad', 'a']);
        res.end(Buffer.from('x'));
      } catch {
        res.writeHead(500, ['Content-Length', '0']);
        res.end();
      }
      return;
    case '/late-write':
      // A write after the client reset the stream: refused, so a sender stops instead of queueing.
      res.writeHead(200, []);
      res.flushHeaders();
      res.once('close', () => lateWrites.push(res.write(Buffer.from('late'))));
      return;
    case '/cut':
    case '/cut-no-length':
      // Cut once what was written has gone out: the moment a reset could be preceded by an end.
      res.writeHead(200, req.url === '/cut' ? ['Content-Length', '10'] : []);
      res.write(Buffer.from('12345'), () => setTimeout(() => res.destroy(), 20));
      return;
    default:
      res.writeHead(405, ['Content-Length', '4']);
      res.end(Buffer.from('nope'));
  }
}

beforeAll(async () => {
  server = createSecureServer({ cert: readFileSync(pki.files.cert), key: readFileSync(pki.files.key), allowHTTP1: true });
  server.on('request', (req, res) => {
    // As listen.ts's HSTS wrapper does; not on /frozen, whose head must be the kept list alone.
    if (req.url !== '/frozen') res.setHeader('Strict-Transport-Security', 'max-age=600');
    handler(req as unknown as H2Request, res as unknown as H2Response);
  });
  server.on('session', (s: ServerHttp2Session) => sessions.add(s));
  answered = answerStreams(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  const closed = new Promise((resolve) => server.close(resolve));
  for (const s of sessions) s.destroy(); // a test that failed may have left a stream open
  await closed;
});

/** Runs `f` on a new client session, closed after it whatever happens. */
async function withSession(f: (s: ClientHttp2Session) => Promise<void>): Promise<void> {
  const s = connect(url, { ca: pki.ca });
  s.on('error', () => undefined);
  try {
    await f(s);
  } finally {
    s.close();
  }
}

interface Answer {
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The stream's RST_STREAM code (0: ended normally). */
  rstCode: number;
  /** DATA frames received. */
  frames: number;
}

function request(s: ClientHttp2Session, headers: Record<string, string>, body?: Buffer): Promise<Answer> {
  return new Promise((resolve) => {
    const r = s.request(headers, { endStream: body === undefined });
    let head: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    r.on('response', (h) => (head = h));
    r.on('data', (c: Buffer) => chunks.push(c));
    r.on('error', () => undefined);
    r.on('close', () => resolve({ headers: head, body: Buffer.concat(chunks), rstCode: r.rstCode ?? 0, frames: chunks.length }));
    if (body !== undefined) r.end(body);
  });
}

describe('answerStreams', () => {
  it('takes node:http2\'s compatibility layer off: the handler gets H2Request and H2Response', async () => {
    expect(answered).toBe(true);
    expect(server.listeners('stream').some((l) => l.name === 'bound onServerStream')).toBe(false);
    await withSession(async (s) => {
      const a = await request(s, { ':path': '/list' });
      expect(a.headers[':status']).toBe(200);
      const last = seen[seen.length - 1]!;
      expect(last.req).toBeInstanceOf(H2Request);
      expect(last.res).toBeInstanceOf(H2Response);
      expect((last.req as H2Request).httpVersionMajor).toBe(2);
      expect((last.req as H2Request).method).toBe('GET');
      // Its socket, read after the stream closed (as the access log's line is written): the connection's.
      await eventually(() => (last.req as H2Request).stream.closed, { what: 'the stream closed' });
      expect((last.req as H2Request).socket.remoteAddress).toBe('127.0.0.1');
    });
  });

  it('sends node:http\'s flat header list in lower case, repeated names as one list, setHeader\'s too, connection-specific fields never', async () => {
    await withSession(async (s) => {
      const a = await request(s, { ':path': '/list' });
      expect(a.body.toString()).toBe('hello');
      expect(a.headers['content-type']).toBe('text/plain');
      expect(a.headers['content-length']).toBe('5');
      expect(a.headers.vary).toBe('Origin, Accept-Encoding, Range');
      for (const name of ['keep-alive', 'proxy-connection', 'upgrade']) expect(a.headers[name], name).toBeUndefined();
      expect(a.headers['strict-transport-security']).toBe('max-age=600');
      expect(a.headers.connection).toBeUndefined();
      expect(a.headers['transfer-encoding']).toBeUndefined();
      expect(a.headers.date).toMatch(/GMT$/);
      expect(a.rstCode).toBe(0);
    });
  });

  it('a kept (frozen) head: each answer has its own current date (node adds it to the list it is given)', async () => {
    await withSession(async (s) => {
      const first = await request(s, { ':path': '/frozen' });
      await new Promise((r) => setTimeout(r, 1100)); // Date has a resolution of one second
      const second = await request(s, { ':path': '/frozen' });
      expect([first.body.toString(), second.body.toString()]).toEqual(['ok', 'ok']);
      expect(second.headers.date).toMatch(/GMT$/);
      expect(second.headers.date).not.toBe(first.headers.date);
      expect(second.headers['content-type']).toBe('text/plain');
    });
  });

  it('HEAD: the headers end the stream, and a body passed to end() is not sent', async () => {
    await withSession(async (s) => {
      const a = await request(s, { ':path': '/list', ':method': 'HEAD' });
      expect(a.headers[':status']).toBe(200);
      expect(a.headers['content-length']).toBe('5');
      expect(a.frames).toBe(0);
      expect(a.rstCode).toBe(0);
    });
  });

  it('HEAD and 304 after flushHeaders: what is written after is dropped, the stream ends cleanly', async () => {
    await withSession(async (s) => {
      for (const [path, method, status] of [['/streamed', 'HEAD', 200], ['/not-modified', 'GET', 304]] as const) {
        const a = await request(s, { ':path': path, ':method': method });
        expect(a.headers[':status']).toBe(status);
        expect(a.frames).toBe(0);
        expect(a.rstCode).toBe(0);
      }
    });
  });

  it('flushHeaders, then writes, then end: the body arrives whole', async () => {
    await withSession(async (s) => {
      const a = await request(s, { ':path': '/streamed' });
      expect(a.body.toString()).toBe('abcd');
      expect(a.rstCode).toBe(0);
    });
  });

  it('a write after the client reset the stream is refused (false), not queued', async () => {
    await withSession(async (s) => {
      await new Promise<void>((resolve) => {
        const r = s.request({ ':path': '/late-write' });
        r.on('error', () => undefined);
        r.on('response', () => r.close(constants.NGHTTP2_CANCEL));
        r.on('close', () => resolve());
      });
      await eventually(() => lateWrites.length === 1, { what: 'the late write' });
      expect(lateWrites).toEqual([false]);
    });
  });

  it('leaves a server alone where the compatibility layer is not installed, and keeps other stream listeners', async () => {
    const bare = createSecureServer({ cert: readFileSync(pki.files.cert), key: readFileSync(pki.files.key) });
    expect(answerStreams(bare)).toBe(false); // no 'request' listener: nothing to take off
    expect(bare.listeners('stream')).toEqual([]);
    const mine = (): void => undefined;
    const other = createSecureServer({ cert: readFileSync(pki.files.cert), key: readFileSync(pki.files.key) });
    other.on('stream', mine);
    other.on('request', () => undefined);
    expect(answerStreams(other)).toBe(true);
    expect(other.listeners('stream')).toContain(mine);
    expect(other.listeners('stream').some((l) => l.name === 'bound onServerStream')).toBe(false);
  });

  it('a header node:http2 refuses sends nothing, so an error answer can still be given', async () => {
    await withSession(async (s) => {
      const a = await request(s, { ':path': '/bad-header' });
      expect(a.headers[':status']).toBe(500);
      expect(a.rstCode).toBe(0);
    });
  });

  it('destroy() resets the stream with INTERNAL_ERROR and nothing before it, with or without a length, so the client knows the body is not whole', async () => {
    await withSession(async (s) => {
      for (const path of ['/cut', '/cut-no-length']) {
        const a = await request(s, { ':path': path });
        expect(a.headers[':status']).toBe(200);
        expect(a.body.toString()).toBe('12345');
        // An END_STREAM before the reset would read as an ordinary end (0), or as the client's
        // own PROTOCOL_ERROR (1) where a Content-Length says more was due.
        expect(a.rstCode, path).toBe(constants.NGHTTP2_INTERNAL_ERROR);
      }
    });
  });

  it('a request body (segd takes none) does not keep the stream open: it ends, and the response\'s close fires once', async () => {
    await withSession(async (s) => {
      const before = closes.filter((p) => p === '/upload').length;
      const a = await request(s, { ':path': '/upload', ':method': 'POST' }, Buffer.alloc(1024 * 1024, 1));
      expect(a.headers[':status']).toBe(405);
      expect(a.body.toString()).toBe('nope');
      expect(a.rstCode).toBe(0);
      await eventually(() => closes.filter((p) => p === '/upload').length === before + 1, { what: 'the response to close once' });
    });
  });
});
