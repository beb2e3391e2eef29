/**
 * The listeners around createSegd(): plain HTTP/1.1, or HTTPS with HTTP/2 and HTTP/1.1 on one
 * port (ALPN), with the limits an edge box needs against slow or idle clients, and a graceful
 * close. The CLI uses exactly this; so can any embedding program.
 *
 * Both protocols run the same handler: HTTP/2 streams are handed to it as request and response
 * objects with the part of node:http's surface segd uses (h2-exchange.ts), and the few places
 * where the two differ (a reset stream; bytes copied into frames in user space) are handled where
 * bytes are written (serve/drained.ts, serve/respond.ts).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createSecureServer, type Http2SecureServer } from 'node:http2';
import { Server as NetServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Connections } from './connections.js';
import { answerStreams } from './h2-exchange.js';
import { checkKeyMode, loadTls, TlsReloader, type TlsFiles } from './tls.js';
import { createSegd, SegdError, type Segd, type SegdOptions } from '../segd.js';
import { native } from '../native/index.js';
import type { Diagnostics } from '../observe/log.js';

export interface ServerOptions extends SegdOptions {
  readonly host?: string;
  readonly port?: number;
  /** HTTPS on `port`, offering HTTP/2 and HTTP/1.1 (ALPN). The files are read again by reloadTls() and when they change. */
  readonly tls?: TlsFiles;
  /** With `tls`: plain HTTP on this port as well (health checks, local players). */
  readonly httpPort?: number;
  /** With `tls`: `Strict-Transport-Security: max-age=N` on every HTTPS answer. Default: not sent. */
  readonly hstsMaxAge?: number;
  /**
   * Connections open at once. Default 10000, lowered with a warning when the descriptor limit
   * cannot hold it; a value given explicitly that does not fit is an error.
   */
  readonly maxConnections?: number;
  /** Connections one address (an IPv6 /64) may hold; 0 for no limit. Default: a tenth of maxConnections. */
  readonly maxConnectionsPerAddress?: number;
  /** Time allowed for a client to send its request headers (and to finish a TLS handshake), ms. Default 10 s. */
  readonly headersTimeoutMs?: number;
  /** A connection whose response has made no progress for this long is closed, ms. Default 60 s. */
  readonly idleTimeoutMs?: number;
}

export interface RunningServer {
  /** The listener on `port`: node:http's server, or node:http2's secure server with `tls`. */
  readonly server: NetServer;
  readonly segd: Segd;
  /** `http://` or `https://` and the address of `port`. */
  readonly url: string;
  /** With `httpPort`: the plain-HTTP listener's URL. */
  readonly httpUrl: string | undefined;
  /** Reads the certificate and key again: true when the new pair is in use, false when it did not load (the old pair stays, the reason is logged). */
  reloadTls(): boolean;
  /** Stop accepting, let in-flight responses finish for up to graceMs, then close everything. */
  close(graceMs?: number): Promise<void>;
}

export const DEFAULT_MAX_CONNECTIONS = 10_000;
/** Descriptors kept for everything but client sockets: listeners, pool threads, logs, the cache. */
const RESERVED_FDS = 128;

/**
 * The connection cap that fits the descriptor limit, after raising the soft limit to the hard
 * one. Without this the process runs out of descriptors at 1024 with the default cap of 10000,
 * and clients see resets with nothing in the log.
 */
function fittingCap(requested: number | undefined, diag: Diagnostics): number {
  const limit = native.raiseFileLimit();
  const fits = Math.max(1, limit - RESERVED_FDS);
  const wanted = requested ?? DEFAULT_MAX_CONNECTIONS;
  if (wanted <= fits) return wanted;
  if (requested !== undefined) {
    throw new SegdError(`--max-connections ${requested} does not fit the open-file limit of ${limit} (at most ${fits}); raise the limit (ulimit -n) or lower --max-connections`, 'ESEGDOPTION');
  }
  diag.warn('connection cap lowered to fit the open-file limit', { reason: `the hard limit on open files (ulimit -Hn) is ${limit}`, maxConnections: fits, wanted });
  return fits;
}

/** An HTTP/2 connection with no stream open for this long is closed (nginx's keepalive_timeout default). */
const H2_IDLE_MS = 75_000;

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  if (options.tls === undefined && (options.httpPort !== undefined || options.hstsMaxAge !== undefined)) {
    throw new SegdError('--http-port and --hsts need HTTPS (--tls-cert and --tls-key)', 'ESEGDOPTION');
  }
  const tls = options.tls === undefined ? undefined : loadTls(options.tls); // a bad pair fails before anything starts
  const segd = await createSegd(options);
  const diag = segd.diagnostics;
  let max: number;
  try {
    max = fittingCap(options.maxConnections, diag);
  } catch (err) {
    await segd.close();
    throw err;
  }
  const headersTimeout = options.headersTimeoutMs ?? 10_000;
  const metrics = segd.metrics;
  const connections = new Connections(
    { max, perAddress: options.maxConnectionsPerAddress ?? Math.max(16, Math.floor(max / 10)), stallMs: options.idleTimeoutMs ?? 60_000, h2IdleMs: H2_IDLE_MS },
    { refused: (reason) => metrics.connectionsRefused.inc({ reason }), reclaimed: (n) => metrics.connectionsReclaimed.inc(n) },
  );
  metrics.openConnections = () => connections.size;

  let secure: Http2SecureServer | undefined;
  let reloader: TlsReloader | undefined;
  const listeners: NetServer[] = [];
  if (options.tls !== undefined && tls !== undefined) {
    checkKeyMode(options.tls.key, diag);
    const hsts = options.hstsMaxAge === undefined ? undefined : `max-age=${options.hstsMaxAge}`;
    const handler = hsts === undefined ? segd.handler : (req: IncomingMessage, res: ServerResponse): void => {
      res.setHeader('Strict-Transport-Security', hsts);
      segd.handler(req, res);
    };
    secure = createSecureServer(
      {
        ...tls,
        allowHTTP1: true,
        ALPNProtocols: ['h2', 'http/1.1'],
        handshakeTimeout: headersTimeout,
        // No Nagle on HTTPS/1.1 connections, as node:http's own servers and node:http2's sessions
        // set it: a body's last partial TCP segment would otherwise wait for the client's ACK.
        noDelay: true,
        // One client's streams at once; nghttp2 refuses more (REFUSED_STREAM) before they reach
        // segd. Floods (SETTINGS, PING, streams opened and reset at once) are nghttp2's to catch:
        // it closes that connection.
        settings: { maxConcurrentStreams: 128 },
        // Bytes a connection may have queued for sending, in MB. They are views of cached
        // objects, not copies, but node:http2 counts them, and past the default (10) it refuses
        // new streams: 128 streams of a 1 MiB segment need this much.
        maxSessionMemory: 160,
      },
      handler as unknown as Parameters<typeof createSecureServer>[1], // HTTP/1.1 over TLS; HTTP/2 streams reach it through answerStreams
    );
    if (!answerStreams(secure)) diag.warn('HTTP/2 requests go through node:http2\'s compatibility layer (slower): this Node release sets it up in a way segd does not know');
    // HTTP/1.1 over TLS runs node:http's parser, which reads its limits from the server object.
    Object.assign(secure, { headersTimeout, requestTimeout: 30_000, keepAliveTimeout: 5_000, connectionsCheckingInterval: 1_000 });
    secure.on('tlsClientError', () => metrics.tlsHandshakeFailures.inc());
    secure.on('sessionError', (err: NodeJS.ErrnoException) => diag.limited('warn', `h2:${err.code}`, 'HTTP/2 connection failed', { code: err.code, reason: err.message }));
    const server = secure;
    reloader = new TlsReloader(options.tls, (o) => server.setSecureContext(o), diag, { reloaded: (ok) => metrics.tlsReloads.inc({ result: ok ? 'ok' : 'failed' }) });
    listeners.push(secure);
  }
  const plain = (): Server =>
    createServer(
      {
        headersTimeout,
        requestTimeout: 30_000, // bounds the request (not the response): segd takes no request bodies
        keepAliveTimeout: 5_000,
        // How often the header and request timeouts are checked (Node's default is 30 s, which
        // would let a slow-headers client hold its socket for up to 40 s instead of 10).
        connectionsCheckingInterval: 1_000,
      },
      segd.handler,
    );
  if (secure === undefined || options.httpPort !== undefined) listeners.push(plain());
  for (const l of listeners) connections.watch(l);

  const host = options.host ?? '127.0.0.1';
  try {
    await listen(listeners[0]!, options.port ?? 8080, host);
    if (listeners[1] !== undefined) await listen(listeners[1], options.httpPort!, host);
  } catch (err) {
    for (const l of listeners) l.close();
    reloader?.stop();
    connections.stop();
    await segd.close();
    throw err;
  }
  for (const l of listeners) {
    // Past listen(), an 'error' is an accept() that failed. libuv absorbs EMFILE and ENFILE itself
    // (it drops the pending connection; process_open_fds against process_max_fds in /metrics shows
    // that coming); anything else must not end the process as an unhandled 'error' would.
    l.on('error', (err: NodeJS.ErrnoException) => diag.limited('error', `accept:${err.code}`, 'cannot accept a connection', { code: err.code, reason: err.message }));
  }

  let closing: Promise<void> | undefined;
  return {
    server: listeners[0]!,
    segd,
    url: urlOf(listeners[0]!, secure === undefined ? 'http' : 'https'),
    httpUrl: secure !== undefined && listeners[1] !== undefined ? urlOf(listeners[1], 'http') : undefined,
    reloadTls: () => reloader?.reload('reload') ?? false,
    close(graceMs = 10_000) {
      closing ??= (async () => {
        reloader?.stop();
        // net.Server's close, not http's (see connections.ts): stop accepting; 'close' fires
        // once every connection has ended.
        const closed = Promise.all(listeners.map((l) => new Promise<void>((resolve) => NetServer.prototype.close.call(l, () => resolve()))));
        connections.drain();
        const timer = setTimeout(() => connections.destroyAll(), graceMs);
        await closed;
        clearTimeout(timer);
        connections.stop();
        await segd.close();
      })();
      return closing;
    },
  };
}

function listen(server: NetServer, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function urlOf(server: NetServer, scheme: string): string {
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return `${scheme}://${host}:${addr.port}/`;
}
