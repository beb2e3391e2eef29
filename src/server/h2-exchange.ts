/**
 * HTTP/2 requests answered on node:http2's stream API. The handler sees them through the small
 * part of node:http's request and response that segd uses (method, url, headers, socket;
 * writeHead with a flat header list, write, end, flushHeaders, cork, 'close' and 'drain'), and
 * the server still emits 'request' with them, so the handler and the connection bookkeeping are
 * the ones HTTP/1.1 runs.
 *
 * Why not node:http2's compatibility layer, which gives the whole surface: it is most of the cost
 * of a small answer. Measured on one core (h2load -c16 -m32, a 2 KB playlist with segd's ten
 * headers): 21.3-22.3k req/s through it, 35.7-37.5k on the stream API.
 */
import type { ServerResponse } from 'node:http';
import type { Http2SecureServer, Http2Session, IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { cut } from '../serve/drained.js';
import { h2Name, HeadSender } from './h2-heads.js';

export class H2Request {
  readonly httpVersionMajor = 2;
  readonly method: string;
  readonly url: string;
  /** Kept: a stream forgets its session once it closes. */
  private readonly session: Http2Session;

  constructor(
    readonly stream: ServerHttp2Stream,
    readonly headers: IncomingHttpHeaders,
  ) {
    this.method = headers[':method'] ?? '';
    this.url = headers[':path'] ?? '';
    this.session = stream.session!;
  }

  /** The connection's socket (TLS), as node:http's request has it: node:http2's proxy of it, made only when asked (the access log). */
  get socket(): Socket {
    return this.session.socket as Socket;
  }
}

type Listener = (...args: unknown[]) => void;

const ignore = (): void => undefined;

export class H2Response {
  statusCode = 200;
  headersSent = false;
  private head: readonly string[] | undefined;
  private extra: Map<string, string> | undefined;
  /** The stream's writable side was ended by the HEADERS frame itself (no body). */
  private endedByHead = false;

  constructor(
    readonly stream: ServerHttp2Stream,
    readonly req: H2Request,
    private readonly heads: HeadSender,
  ) {}

  get destroyed(): boolean {
    return this.stream.destroyed;
  }

  get writableFinished(): boolean {
    return this.stream.writableFinished;
  }

  /** A header added to whatever writeHead gives (HSTS, before the handler runs). */
  setHeader(name: string, value: string): this {
    (this.extra ??= new Map()).set(h2Name(name), value);
    return this;
  }

  /** `headers`: node:http's flat list, [name, value, name, value, ...]. Sent with the first byte, or at end. */
  writeHead(status: number, headers?: readonly string[]): this {
    this.statusCode = status;
    this.head = headers;
    return this;
  }

  flushHeaders(): void {
    this.respond(false);
  }

  /** (Bytes for a HEAD, 204, 205 or 304 answer are dropped by node:http2, which ends those streams with their headers.) */
  write(chunk: Uint8Array, cb?: (err?: Error | null) => void): boolean {
    if (!this.respond(false)) return false;
    return this.stream.write(chunk, cb);
  }

  /** Without a body, and before any, the HEADERS frame itself ends the stream (one frame, not two). */
  end(body?: Uint8Array): this {
    this.respond(body === undefined || body.length === 0);
    if (!this.endedByHead && !this.stream.destroyed) this.stream.end(body);
    return this;
  }

  cork(): void {
    this.stream.cork();
  }

  uncork(): void {
    this.stream.uncork();
  }

  /** Ends the exchange at once: the stream is reset (INTERNAL_ERROR, no END_STREAM first), so the client knows the answer is not whole. */
  destroy(): this {
    cut(this as unknown as ServerResponse);
    return this;
  }

  on(event: string, fn: Listener): this {
    this.stream.on(event, fn);
    return this;
  }

  once(event: string, fn: Listener): this {
    this.stream.once(event, fn);
    return this;
  }

  off(event: string, fn: Listener): this {
    this.stream.off(event, fn);
    return this;
  }

  removeListener(event: string, fn: Listener): this {
    return this.off(event, fn);
  }

  /** Sends the HEADERS frame once; false when the stream is gone and nothing more can be sent. */
  private respond(endStream: boolean): boolean {
    if (this.headersSent) return !this.stream.destroyed;
    if (this.stream.destroyed || this.stream.closed) return false;
    // (a header node:http2 refuses throws here, with nothing sent: the handler's 500 can still go)
    this.heads.respond(this.stream, this.statusCode, this.head ?? [], this.extra, endStream);
    this.headersSent = true;
    this.endedByHead = endStream;
    return true;
  }
}

/**
 * Answers `server`'s HTTP/2 streams with H2Request and H2Response, emitting 'request' as the
 * compatibility layer would, and takes that layer's stream listener off. Returns false, changing
 * nothing, where that listener is not found (a Node release that sets the layer up otherwise):
 * the compatibility layer then goes on answering, slower but the same.
 */
export function answerStreams(server: Http2SecureServer): boolean {
  // node:http2 installs the layer (a bound onServerStream on 'stream') when the first 'request'
  // listener is added; Node 20 to 24 do it the same way.
  const compat = server.listeners('stream').filter((l) => l.name === 'bound onServerStream');
  if (compat.length !== 1) return false;
  server.off('stream', compat[0] as Listener);
  const heads = new HeadSender();
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    stream.on('error', ignore); // a reset stream's error: its 'close' tells the response everything
    const req = new H2Request(stream, headers);
    server.emit('request', req, new H2Response(stream, req, heads));
  });
  return true;
}
