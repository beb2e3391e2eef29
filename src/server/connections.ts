/**
 * Connection bookkeeping for the server: fair use of the connection slots, responses in flight
 * per socket, a sweep that closes sockets whose reader stopped reading, and draining on shutdown.
 *
 * Fairness: one address (an IPv6 /64) may hold at most `perAddress` connections; beyond that its
 * new connections are closed at accept. When all `max` slots are taken, idle connections (no
 * response in flight, including sockets that never finished a request) are reclaimed, those of
 * the address holding the most connections first, then the longest idle, as nginx reuses idle
 * keep-alive connections when it runs out. So one address flooding with idle sockets cannot keep
 * a player on another address from getting its playlist.
 *
 * Why not Node's own tools: socket.setTimeout() re-arms a timer on every read and write, which
 * measured here cost a quarter of the playlist request rate; a sweep every few seconds that
 * compares bytesWritten costs nothing per request. http.Server.close() cannot drain: it calls
 * closeIdleConnections(), which counts a response as done once res.end() was called, so it
 * destroys sockets whose large zero-copy bodies are still being written. And server.maxConnections
 * only refuses newcomers, which is exactly what lets one client starve the others.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse, ServerHttp2Session } from 'node:http2';
import type { Server, Socket } from 'node:net';
import { addressKey } from './address.js';
import type { H2Request } from './h2-exchange.js';

interface Connection {
  readonly address: string;
  /** The socket HTTP is written to: the TCP socket, or the TLS socket over it once the handshake is done. */
  app: Socket;
  /** Set for an HTTP/2 connection: draining it is a GOAWAY, not a close. */
  session: ServerHttp2Session | undefined;
  busy: number;
  /** Requests begun on it: 0 for a connection whose first request has not arrived yet. */
  served: number;
  idleSince: number;
  lastBytes: number;
  progressAt: number;
}

export interface ConnectionLimits {
  /** Connections open at once. */
  readonly max: number;
  /** Connections one address (IPv6: one /64) may hold; 0 for no limit. */
  readonly perAddress: number;
  /** A socket with a response pending that has sent nothing for this long is closed, ms. */
  readonly stallMs: number;
  /**
   * An HTTP/2 connection without an open stream for this long is closed, ms (HTTP/1.1's
   * keep-alive timeout is node:http's). Checked by the sweep, not by a timer per session:
   * node:http2's session timeout re-arms on every frame.
   */
  readonly h2IdleMs?: number;
}

export interface ConnectionEvents {
  refused(reason: 'per-address' | 'full'): void;
  reclaimed(n: number): void;
}

/** The share of the slots freed at once when full, so a flood costs one sort per batch, not per accept. */
const RECLAIM_SHARE = 0.05;

/**
 * A socket's record, found from any of its faces: the TCP socket, the TLS socket over it (whose
 * `_parent` is the TCP socket), and HTTP/2's proxy of the TLS socket (which forwards property reads).
 */
const RECORD = Symbol('segd.connection');
type Tagged = Socket & { [RECORD]?: Connection; _parent?: Tagged | null };

function recordOf(socket: Tagged): Connection | undefined {
  return socket[RECORD] ?? socket._parent?.[RECORD];
}

export class Connections {
  private readonly open = new Map<Socket, Connection>();
  private readonly perAddress = new Map<string, number>();
  private draining = false;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly limits: ConnectionLimits,
    private readonly events: Partial<ConnectionEvents> = {},
  ) {
    this.sweeper = setInterval(() => this.sweep(), Math.max(250, Math.min(5000, limits.stallMs / 4))).unref();
  }

  /** Counts and limits the connections of `server` (plain HTTP, or TLS with HTTP/1.1 and HTTP/2) with the others. */
  watch(server: Server): void {
    // At accept, before any TLS handshake: a refused socket costs nothing more.
    server.on('connection', (socket: Socket) => this.admit(socket));
    server.on('secureConnection', (tls: Tagged) => {
      const c = recordOf(tls);
      if (c === undefined) return;
      c.app = tls;
      tls[RECORD] = c;
    });
    server.on('session', (session: ServerHttp2Session & Tagged) => {
      const c = recordOf(session.socket as Tagged);
      if (c === undefined) return;
      c.session = session;
      session[RECORD] = c; // its streams' requests find it here, not through the socket's proxy
      if (this.draining) session.close();
    });
    // Before the handler: an answer from the memory tier is written within it, and whether the
    // connection stays open has to be settled before its head goes out.
    server.prependListener('request', (req: IncomingMessage | Http2ServerRequest | H2Request, res: ServerResponse | Http2ServerResponse) => {
      const c = 'stream' in req ? (req.stream.session as Tagged | undefined)?.[RECORD] : recordOf(req.socket as Tagged);
      if (c === undefined) return;
      c.busy++;
      c.served++;
      // Draining: this answer says `Connection: close`, so the client opens its next request on
      // a new connection (to a server still accepting) instead of racing the close of this one.
      if (this.draining && c.session === undefined) (res as ServerResponse).shouldKeepAlive = false;
      res.on('close', () => {
        if (--c.busy > 0) return;
        c.idleSince = Date.now();
        if (this.draining && c.session === undefined) c.app.destroySoon(); // after the last byte is flushed
      });
    });
  }

  get size(): number {
    return this.open.size;
  }

  /** Closes idle connections now and every other one as soon as its responses are flushed. */
  drain(): void {
    this.draining = true;
    for (const c of this.open.values()) {
      // HTTP/2: GOAWAY; the session ends by itself once its open streams have finished.
      if (c.session !== undefined) c.session.close();
      // Idle between two requests: closed now. One that has not sent its first request yet is
      // left alone: it was accepted a moment ago, so its request is probably on the way, and
      // closing it would lose a request sent to a server that accepted it. Its answer says
      // `Connection: close`; if it never comes, the headers timeout (or the grace) ends it.
      else if (c.busy === 0 && c.served > 0) c.app.destroySoon();
    }
  }

  stop(): void {
    clearInterval(this.sweeper);
  }

  /** Closes every connection now (the end of a drain's grace). */
  destroyAll(): void {
    for (const socket of this.open.keys()) socket.destroy();
  }

  private admit(socket: Socket): void {
    const address = addressKey(socket.remoteAddress);
    const held = this.perAddress.get(address) ?? 0;
    if (this.limits.perAddress > 0 && held >= this.limits.perAddress) {
      this.events.refused?.('per-address');
      socket.destroy();
      return;
    }
    if (this.open.size >= this.limits.max && !this.reclaim()) {
      this.events.refused?.('full');
      socket.destroy();
      return;
    }
    const now = Date.now();
    const c: Connection = { address, app: socket, session: undefined, busy: 0, served: 0, idleSince: now, lastBytes: 0, progressAt: now };
    (socket as Tagged)[RECORD] = c;
    this.open.set(socket, c);
    this.perAddress.set(address, held + 1);
    socket.once('close', () => this.forget(socket));
  }

  private forget(socket: Socket): void {
    const c = this.open.get(socket);
    if (c === undefined) return;
    this.open.delete(socket);
    const held = (this.perAddress.get(c.address) ?? 1) - 1;
    if (held > 0) this.perAddress.set(c.address, held);
    else this.perAddress.delete(c.address);
  }

  /** Frees a batch of idle slots; false when every connection has a response in flight. */
  private reclaim(): boolean {
    const idle: [Socket, Connection][] = [];
    for (const entry of this.open) if (entry[1].busy === 0 && entry[1].app.writableLength === 0) idle.push(entry);
    if (idle.length === 0) return false;
    const held = (c: Connection): number => this.perAddress.get(c.address) ?? 0;
    idle.sort(([, a], [, b]) => held(b) - held(a) || a.idleSince - b.idleSince);
    const n = Math.min(idle.length, Math.max(1, Math.ceil(this.limits.max * RECLAIM_SHARE)));
    for (let i = 0; i < n; i++) {
      const socket = idle[i]![0];
      this.forget(socket); // now, not at 'close': the slot is needed by the caller
      socket.destroy();
    }
    this.events.reclaimed?.(n);
    return true;
  }

  private sweep(): void {
    const now = Date.now();
    for (const [socket, c] of this.open) {
      // Moves whenever the kernel takes bytes: bytesWritten counts a whole body as soon as
      // res.end() hands it to libuv (and writableLength keeps counting it until the last byte is
      // taken), so neither moves while a slow client drains a large body; libuv's queue does.
      // With TLS the TCP socket's counts are the encrypted bytes, which move as the kernel takes
      // them; the TLS socket's own counts stay put until a whole write is done.
      const queued = writeQueueSize(socket);
      const flushed = socket.bytesWritten - queued;
      if (c.session !== undefined && c.busy === 0 && now - c.idleSince >= (this.limits.h2IdleMs ?? Infinity)) c.session.close();
      if ((c.busy === 0 && c.app.writableLength === 0 && queued === 0) || flushed !== c.lastBytes) {
        c.lastBytes = flushed;
        c.progressAt = now;
      } else if (now - c.progressAt >= this.limits.stallMs) {
        socket.destroy();
      }
    }
  }
}

/** Bytes libuv still holds for the socket (not yet taken by the kernel); 0 once it is closed. */
function writeQueueSize(socket: Socket): number {
  return (socket as Socket & { _handle?: { writeQueueSize?: number } | null })._handle?.writeQueueSize ?? 0;
}
