/**
 * A node:http server around createSegd(), with the limits an edge box needs against slow or idle
 * clients, and a graceful close. The CLI uses exactly this; so can any embedding program.
 */
import { createServer, type Server } from 'node:http';
import { Server as NetServer } from 'node:net';
import { Connections } from './connections.js';
import type { AddressInfo } from 'node:net';
import { createSegd, type Segd, type SegdOptions } from '../segd.js';

export interface ServerOptions extends SegdOptions {
  readonly host?: string;
  readonly port?: number;
  /** Concurrent connections beyond this are refused. Default 10000. */
  readonly maxConnections?: number;
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

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const segd = await createSegd(options);
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
  server.maxConnections = options.maxConnections ?? 10_000;
  const connections = new Connections(server, options.idleTimeoutMs ?? 60_000);

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
