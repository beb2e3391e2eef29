/**
 * A node:http server around createSegd(), with the limits an edge box needs against slow or idle
 * clients, and a graceful close. The CLI uses exactly this; so can any embedding program.
 */
import { createServer, type Server } from 'node:http';
import { Server as NetServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Connections } from './connections.js';
import { createSegd, SegdError, type Segd, type SegdOptions } from '../segd.js';
import { native } from '../native/index.js';
import type { Diagnostics } from '../observe/log.js';

export interface ServerOptions extends SegdOptions {
  readonly host?: string;
  readonly port?: number;
  /**
   * Connections open at once. Default 10000, lowered with a warning when the descriptor limit
   * cannot hold it; a value given explicitly that does not fit is an error.
   */
  readonly maxConnections?: number;
  /** Connections one address (an IPv6 /64) may hold; 0 for no limit. Default: a tenth of maxConnections. */
  readonly maxConnectionsPerAddress?: number;
  /** Time allowed for a client to send its request headers, ms. Default 10 s. */
  readonly headersTimeoutMs?: number;
  /** A connection whose response has made no progress for this long is closed, ms. Default 60 s. */
  readonly idleTimeoutMs?: number;
}

export interface RunningServer {
  readonly server: Server;
  readonly segd: Segd;
  readonly url: string;
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

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const segd = await createSegd(options);
  let max: number;
  try {
    max = fittingCap(options.maxConnections, segd.diagnostics);
  } catch (err) {
    await segd.close();
    throw err;
  }
  const server = createServer(
    {
      headersTimeout: options.headersTimeoutMs ?? 10_000,
      requestTimeout: 30_000, // bounds the request (not the response): segd takes no request bodies
      keepAliveTimeout: 5_000,
      // How often the header and request timeouts are checked (Node's default is 30 s, which
      // would let a slow-headers client hold its socket for up to 40 s instead of 10).
      connectionsCheckingInterval: 1_000,
    },
    segd.handler,
  );
  const metrics = segd.metrics;
  const connections = new Connections(
    server,
    { max, perAddress: options.maxConnectionsPerAddress ?? Math.max(16, Math.floor(max / 10)), stallMs: options.idleTimeoutMs ?? 60_000 },
    { refused: (reason) => metrics.connectionsRefused.inc({ reason }), reclaimed: (n) => metrics.connectionsReclaimed.inc(n) },
  );
  metrics.openConnections = () => connections.size;

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 8080, options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    connections.stop();
    await segd.close();
    throw err;
  }
  // Past listen(), an 'error' is an accept() that failed. libuv absorbs EMFILE and ENFILE itself
  // (it drops the pending connection; process_open_fds against process_max_fds in /metrics shows
  // that coming); anything else must not end the process as an unhandled 'error' would.
  server.on('error', (err: NodeJS.ErrnoException) => segd.diagnostics.limited('error', `accept:${err.code}`, 'cannot accept a connection', { code: err.code, reason: err.message }));
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;

  let closing: Promise<void> | undefined;
  return {
    server,
    segd,
    url: `http://${host}:${addr.port}/`,
    close(graceMs = 10_000) {
      closing ??= (async () => {
        // net.Server's close, not http's (see connections.ts): stop accepting; 'close' fires
        // once every connection has ended.
        const closed = new Promise<void>((resolve) => NetServer.prototype.close.call(server, () => resolve()));
        connections.drain();
        const timer = setTimeout(() => server.closeAllConnections(), graceMs);
        await closed;
        clearTimeout(timer);
        connections.stop();
        await segd.close();
      })();
      return closing;
    },
  };
}
