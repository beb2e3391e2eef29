import type { ServerResponse } from 'node:http';

/** Resolves when a response that refused a write can take more, or is gone. */
export function drained(res: ServerResponse): Promise<void> {
  // A write to an HTTP/2 stream already reset returns false, and its 'close' has been and gone.
  if (gone(res)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/**
 * Whether the response can take no more bytes: its socket (HTTP/1.1) or its stream (HTTP/2,
 * whose compatibility response has no `destroyed`) is gone, by a reset or a close.
 */
export function gone(res: ServerResponse): boolean {
  return res.destroyed || streamOf(res)?.destroyed === true;
}

/**
 * Ends a response cut short, so the client knows its body is not whole: HTTP/1.1 closes the
 * connection; HTTP/2 resets the stream with INTERNAL_ERROR and nothing before it. Not
 * `stream.close(code)`: that ends the writable side first, and once the bytes written so far are
 * flushed the client gets END_STREAM, an ordinary end to a body without Content-Length (seen on
 * Node 24); `destroy(err)` sends only RST_STREAM, and with an error its code is INTERNAL_ERROR
 * (without one it would be NO_ERROR, which a client may also take for an ordinary end).
 */
export function cut(res: ServerResponse): void {
  const stream = streamOf(res);
  if (stream === undefined) res.destroy();
  else if (!stream.destroyed) stream.destroy(CUT);
}

const CUT = new Error('response cut short');

/** The HTTP/2 stream under a response (segd's or the compatibility layer's); undefined for HTTP/1.1. */
function streamOf(res: ServerResponse): { destroy(err: Error): void; destroyed: boolean } | undefined {
  return (res as { stream?: { destroy(err: Error): void; destroyed: boolean } }).stream;
}
