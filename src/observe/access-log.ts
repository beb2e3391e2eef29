/** The optional access log: one JSON line per response, with the request's CMCD when it has any. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { parseCmcd } from '../http/cache-key.js';

export function withAccessLog(handler: (req: IncomingMessage, res: ServerResponse) => void, log: Logger): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const t0 = performance.now();
    const socket = req.socket;
    const before = socket.bytesWritten; // the socket's count spans every request of a keep-alive connection
    res.once('close', () => {
      const url = req.url ?? '';
      const q = url.indexOf('?');
      log.info({
        method: req.method,
        url,
        status: res.statusCode,
        range: req.headers.range,
        bytes: socket.bytesWritten - before,
        ms: Math.round((performance.now() - t0) * 100) / 100,
        complete: res.writableFinished,
        cmcd: parseCmcd(q < 0 ? '' : url.slice(q + 1), req.headers),
      });
    });
    handler(req, res);
  };
}
