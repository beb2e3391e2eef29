/**
 * A node:http server around createSegd(), with the limits an edge box needs against slow or idle
 * clients, and a graceful close. The CLI uses exactly this; so can any embedding program.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createSegd, type Segd, type SegdOptions } from './segd.js';

export interface ServerOptions extends SegdOptions {
  readonly host?: string;
  readonly port?: number;
  /** Concurrent connections beyond this are refused. Default 10000. */
  readonly maxConnections?: number;
  /** Time allowed for a client to send its request headers, ms. Default 10 s. */
  readonly headersTimeoutMs?: number;
  /** A socket with no activity either way for this long is closed, ms. Default 60 s. */
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
    },
    segd.handler,
  );
  server.maxConnections = options.maxConnections ?? 10_000;
  server.setTimeout(options.idleTimeoutMs ?? 60_000, (socket) => socket.destroy());

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 8080, options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await segd.close();
    throw err;
  }
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;

  // Responses in flight per connection. http.Server.close() cannot be used to drain: it calls
  // closeIdleConnections(), which counts a response as done once res.end() was called, so it
  // destroys sockets whose large zero-copy bodies are still being written.
  const inFlight = new Map<Socket, number>();
  let draining = false;
  server.on('connection', (socket: Socket) => {
    inFlight.set(socket, 0);
    socket.once('close', () => inFlight.delete(socket));
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    inFlight.set(socket, (inFlight.get(socket) ?? 0) + 1);
    res.once('close', () => {
      const left = (inFlight.get(socket) ?? 1) - 1;
      inFlight.set(socket, left);
      if (draining && left === 0) socket.destroySoon(); // after the last byte is flushed
    });
  });

  let closing: Promise<void> | undefined;
  return {
    server,
    segd,
    url: `http://${host}:${addr.port}/`,
    close(graceMs = 10_000) {
      closing ??= (async () => {
        draining = true;
        // net.Server's close: stop accepting; 'close' fires once every connection has ended.
        const closed = new Promise<void>((resolve) => NetServer.prototype.close.call(server, () => resolve()));
        for (const [socket, n] of inFlight) if (n === 0) socket.destroySoon();
        const timer = setTimeout(() => server.closeAllConnections(), graceMs);
        await closed;
        clearTimeout(timer);
        await segd.close();
      })();
      return closing;
    },
  };
}
