/**
 * Connection bookkeeping for the server: responses in flight per socket, a sweep that closes
 * sockets whose reader stopped reading, and draining on shutdown.
 *
 * Why not Node's own tools: socket.setTimeout() re-arms a timer on every read and write, which
 * measured here cost a quarter of the playlist request rate; a sweep every few seconds that
 * compares bytesWritten costs nothing per request. And http.Server.close() cannot drain: it
 * calls closeIdleConnections(), which counts a response as done once res.end() was called, so it
 * destroys sockets whose large zero-copy bodies are still being written.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

interface Connection {
  busy: number;
  lastBytes: number;
  progressAt: number;
}

export class Connections {
  private readonly open = new Map<Socket, Connection>();
  private draining = false;
  private readonly sweeper: NodeJS.Timeout;

  /** `stallMs`: a socket with a response pending that has sent nothing for this long is closed. */
  constructor(server: Server, private readonly stallMs: number) {
    server.on('connection', (socket: Socket) => {
      this.open.set(socket, { busy: 0, lastBytes: 0, progressAt: Date.now() });
      socket.once('close', () => this.open.delete(socket));
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const socket = req.socket;
      const c = this.open.get(socket);
      if (c === undefined) return;
      c.busy++;
      res.once('close', () => {
        c.busy--;
        if (this.draining && c.busy === 0) socket.destroySoon(); // after the last byte is flushed
      });
    });
    this.sweeper = setInterval(() => this.sweep(), Math.max(250, Math.min(5000, stallMs / 4))).unref();
  }

  get size(): number {
    return this.open.size;
  }

  /** Closes idle connections now and every other one as soon as its responses are flushed. */
  drain(): void {
    this.draining = true;
    for (const [socket, c] of this.open) if (c.busy === 0) socket.destroySoon();
  }

  stop(): void {
    clearInterval(this.sweeper);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [socket, c] of this.open) {
      const pending = c.busy > 0 || socket.writableLength > 0;
      if (!pending || socket.bytesWritten !== c.lastBytes) {
        c.lastBytes = socket.bytesWritten;
        c.progressAt = now;
      } else if (now - c.progressAt >= this.stallMs) {
        socket.destroy();
      }
    }
  }
}
