/**
 * Minimal HTTP clients for tests: node:http for ordinary requests, raw sockets for hostile ones,
 * node:http2 for an https: server when the run is over h2 (transport.ts).
 */
import { Agent, request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as h2connect, constants as h2, type ClientHttp2Session } from 'node:http2';
import { connect } from 'node:net';
import { testPki } from './pki.js';
import { overH2 } from './transport.js';

export interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export function get(base: string, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Reply> {
  const url = new URL(base);
  if (viaH2(url)) return exchange(url, path, headers, method).then((r) => (r.cut === undefined ? r : Promise.reject(new Error(r.cut))));
  return new Promise((resolve, reject) => {
    const req = h1(url)({ host: url.hostname, port: url.port, path, method, headers, agent: false, ca: caFor(url) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Sends the request line as given (no client-side validation or normalisation) and returns the status. */
export function rawStatus(base: string, target: string): Promise<{ status: number; text: string }> {
  const url = new URL(base);
  // Over HTTP/2 the target goes out as :path, as given: the client checks only its characters.
  if (viaH2(url)) return exchange(url, target, {}, 'GET').then((r) => ({ status: r.status, text: JSON.stringify(r.headers) + r.body.toString('latin1') }));
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text });
    });
    socket.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 'latin1');
  });
}

/** Parses a multipart/byteranges body back into its parts. */
export function parseMultipart(body: Buffer, contentType: string): { range: string; type: string; data: Buffer }[] {
  const boundary = /boundary=([^;]+)/.exec(contentType)?.[1];
  if (!boundary) throw new Error(`no boundary in ${contentType}`);
  const delim = Buffer.from(`--${boundary}`);
  const parts: { range: string; type: string; data: Buffer }[] = [];
  let pos = body.indexOf(delim);
  while (pos >= 0) {
    const next = body.indexOf(delim, pos + delim.length);
    if (next < 0) break;
    const part = body.subarray(pos + delim.length + 2, next - 2); // after CRLF, before CRLF
    const split = part.indexOf('\r\n\r\n');
    const head = part.subarray(0, split).toString('latin1');
    parts.push({
      range: /content-range: (.*)/i.exec(head)?.[1]?.trim() ?? '',
      type: /content-type: (.*)/i.exec(head)?.[1]?.trim() ?? '',
      data: part.subarray(split + 4),
    });
    pos = next;
  }
  return parts;
}

export interface TimedReply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** performance.now() of the first body byte (undefined: none came), and of the end or the error. */
  readonly firstByteAt: number | undefined;
  readonly endAt: number;
  /** Set when the response broke off before its end (a cut-short transfer). */
  readonly error: string | undefined;
}

/** Like get(), but never rejects once headers arrived: a broken body is reported, with timings. */
export function getTimed(base: string, path: string, headers: Record<string, string> = {}, onFirstByte?: () => void): Promise<TimedReply> {
  const url = new URL(base);
  if (viaH2(url)) return exchange(url, path, headers, 'GET', onFirstByte).then((r) => (r.status === 0 ? Promise.reject(new Error(r.cut)) : { ...r, error: r.cut }));
  return new Promise((resolve, reject) => {
    const req = h1(url)({ host: url.hostname, port: url.port, path, headers, agent: false, ca: caFor(url) }, (res) => {
      const chunks: Buffer[] = [];
      let firstByteAt: number | undefined;
      let settled = false;
      const done = (error: string | undefined): void => {
        if (settled) return;
        settled = true;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), firstByteAt, endAt: performance.now(), error });
      };
      res.on('data', (c: Buffer) => {
        if (firstByteAt === undefined) {
          firstByteAt = performance.now();
          onFirstByte?.();
        }
        chunks.push(c);
      });
      res.on('end', () => done(res.complete ? undefined : 'incomplete'));
      res.on('error', (e) => done(e.message));
      res.on('aborted', () => done('aborted'));
      res.on('close', () => done(res.complete ? undefined : 'closed before the end'));
    });
    req.on('error', reject);
    req.end();
  });
}

/** How one request ended: whole (the body its framing announced, all of it), or cut short. */
export interface Outcome {
  /** 0 when the connection ended before any response head. */
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** What arrived, whole or not. */
  readonly body: Buffer;
  /** Why it is not whole, or undefined when it is. */
  readonly cut: string | undefined;
}

/**
 * One GET over http: or https: (`ca` trusts a test certificate) that never rejects: a request cut
 * short at any point is an outcome like any other, for the test to assert on.
 */
export function attempt(base: string, path: string, options: { ca?: Buffer; headers?: Record<string, string>; paused?: () => Promise<void> } = {}): Promise<Outcome> {
  const url = new URL(base);
  if (viaH2(url)) return exchange(url, path, options.headers ?? {}, 'GET');
  return new Promise((resolve) => {
    const req = h1(url)({ host: url.hostname, port: url.port, path, headers: options.headers, agent: false, ca: options.ca ?? caFor(url) }, (res) => {
      // paused (HTTP/1.1): nothing is read after the head until it resolves, as a stalled player.
      if (options.paused !== undefined) {
        res.pause();
        void options.paused().then(() => res.resume());
      }
      const chunks: Buffer[] = [];
      let settled = false;
      const done = (cut: string | undefined): void => {
        if (settled) return;
        settled = true;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), cut });
      };
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done(res.complete ? undefined : 'incomplete'));
      res.on('error', (e) => done(e.message));
      res.on('close', () => done(res.complete ? undefined : 'closed before the end'));
    });
    req.on('error', (e) => resolve({ status: 0, headers: {}, body: Buffer.alloc(0), cut: e.message }));
    req.end();
  });
}

/** The sum of a metric's samples on /metrics; `name` may carry labels (`segd_cache_hits_total{tier="read"}`). */
export async function metric(base: string, name: string): Promise<number> {
  const text = (await get(base, '/metrics')).body.toString();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name) && (line[name.length] === ' ' || line[name.length] === '{')) sum += Number(line.split(' ').pop());
  return sum;
}

/** HTTP/1.1 over TCP or TLS. */
function h1(url: URL): typeof httpsRequest {
  return url.protocol === 'https:' ? httpsRequest : request;
}

/** The test CA for an https: server (made only when one is asked for). */
function caFor(url: URL): Buffer | undefined {
  return url.protocol === 'https:' ? testPki().ca : undefined;
}

function viaH2(url: URL): boolean {
  return overH2 && url.protocol === 'https:';
}

/** One HTTP/2 connection per server, shared by the test's requests as a player shares one. */
const sessions = new Map<string, ClientHttp2Session>();

function session(url: URL): ClientHttp2Session {
  let s = sessions.get(url.origin);
  if (s !== undefined && !s.closed && !s.destroyed) return s;
  const fresh = h2connect(url.origin, { ca: testPki().ca });
  fresh.on('error', () => undefined); // seen by the streams
  fresh.on('close', () => {
    if (sessions.get(url.origin) === fresh) sessions.delete(url.origin);
  });
  fresh.unref();
  sessions.set(url.origin, fresh);
  return fresh;
}

/** HTTP/1.1's connection-level headers have no place in HTTP/2 (RFC 9113 §8.2.2); Host becomes :authority. */
const H1_ONLY = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/** One request over HTTP/2 that never rejects: a reset stream or a lost connection is a `cut`, status 0 before the headers. */
function exchange(url: URL, path: string, headers: Record<string, string>, method: string, onFirstByte?: () => void): Promise<Outcome & { firstByteAt: number | undefined; endAt: number }> {
  const h: Record<string, string> = { [h2.HTTP2_HEADER_METHOD]: method, [h2.HTTP2_HEADER_PATH]: path };
  for (const [k, v] of Object.entries(headers)) {
    const name = k.toLowerCase();
    if (name === 'host') h[h2.HTTP2_HEADER_AUTHORITY] = v;
    else if (!H1_ONLY.has(name)) h[name] = v;
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let status = 0;
    let responseHeaders: IncomingHttpHeaders = {};
    let firstByteAt: number | undefined;
    let settled = false;
    const done = (cut: string | undefined): void => {
      if (settled) return;
      settled = true;
      resolve({ status, headers: responseHeaders, body: Buffer.concat(chunks), cut, firstByteAt, endAt: performance.now() });
    };
    let stream;
    try {
      stream = session(url).request(h, { endStream: true });
    } catch (err) {
      return done((err as Error).message);
    }
    stream.on('response', (head) => {
      status = Number(head[h2.HTTP2_HEADER_STATUS]);
      const { [h2.HTTP2_HEADER_STATUS]: _, ...rest } = head;
      responseHeaders = rest as IncomingHttpHeaders;
    });
    stream.on('data', (c: Buffer) => {
      if (firstByteAt === undefined) {
        firstByteAt = performance.now();
        onFirstByte?.();
      }
      chunks.push(c);
    });
    // Whole only with END_STREAM (nghttp2 also checks it against Content-Length); a reset, even
    // with NO_ERROR, before it is a cut.
    stream.on('end', () => done(undefined));
    stream.on('error', (e) => done(e.message));
    stream.on('close', () => done(`reset (${stream.rstCode})`));
  });
}

/**
 * Requests one after the other on one keep-alive HTTP/1.1 connection, each body read; rejects if
 * an answer does not come whole within 5 s (an answer whose head the client takes as whole while
 * the server never ended it holds the connection, and the next request waits on it).
 */
export async function onOneConnection(
  base: string,
  reqs: readonly { method: string; path: string; headers: Record<string, string> }[],
): Promise<(IncomingMessage & { reusedSocket: boolean })[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const out: (IncomingMessage & { reusedSocket: boolean })[] = [];
  try {
    for (const r of reqs) {
      out.push(
        await new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no answer to ${r.method} ${r.path} on the connection`)), 5000);
          const req = request(new URL(r.path, base), { method: r.method, headers: r.headers, agent }, (res) => {
            res.resume();
            res.on('end', () => (clearTimeout(timer), resolve(Object.assign(res, { reusedSocket: req.reusedSocket }))));
          });
          req.on('error', reject);
          req.end();
        }),
      );
    }
    return out;
  } finally {
    agent.destroy();
  }
}
