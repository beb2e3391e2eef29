import type { ServerResponse } from 'node:http';
import { constants } from 'node:http2';

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
 * connection; HTTP/2 resets the stream with INTERNAL_ERROR (a bare destroy would send NO_ERROR,
 * which a client may take for an ordinary end).
 */
export function cut(res: ServerResponse): void {
  const stream = streamOf(res);
  if (stream === undefined) res.destroy();
  else if (!stream.destroyed) stream.close(constants.NGHTTP2_INTERNAL_ERROR);
}

/** The HTTP/2 stream under a compatibility response; undefined for HTTP/1.1. */
function streamOf(res: ServerResponse): { close(code: number): void; destroyed: boolean } | undefined {
  return (res as { stream?: { close(code: number): void; destroyed: boolean } }).stream;
}
