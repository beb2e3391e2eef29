// A minimal HTTP/1.1 response reader for the herd, on a bare socket. node:http's client costs
// tens of microseconds per request to build and to parse; with 200 of them in one process the
// herd's last request left tens of milliseconds after its first, and responses waited on the
// client's own parsing, so the first-byte times measured the client more than the server. Here
// the requests are written in one loop, and the first byte is the first read of each socket.
import type net from 'node:net';

export interface RawResult {
  status: number;
  /** Response headers, names lower-cased (repeated ones joined with ", "). */
  headers: Record<string, string>;
  /** From the shared start: first byte of the response, first body byte, last body byte (NaN when not reached). */
  firstByteMs: number;
  firstBodyMs: number;
  lastByteMs: number;
  bytes: number;
  /** The body ended where its framing said it would (Content-Length or the last chunk). */
  complete: boolean;
  error: string | null;
}

type Phase = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailer' | 'done';

/**
 * Reads one response from `socket`, handing each body piece to `onBody(offset, piece)` as it
 * arrives (the bytes are not kept). Resolves at the end of the body, on close, or on timeout.
 */
export function readResponse(socket: net.Socket, clock: () => number, onBody: (offset: number, piece: Buffer) => void, timeoutMs: number): Promise<RawResult> {
  return new Promise((resolve) => {
    const r: RawResult = { status: 0, headers: {}, firstByteMs: NaN, firstBodyMs: NaN, lastByteMs: NaN, bytes: 0, complete: false, error: null };
    let phase: Phase = 'head';
    let pending: Buffer = Buffer.alloc(0); // unparsed head, chunk-size or trailer text
    let left = 0; // body bytes (or CRLF bytes) still to come in this phase

    const finish = (error: string | null): void => {
      if (phase === 'done' && error !== null) return;
      phase = 'done';
      clearTimeout(timer);
      socket.off('data', onData).off('close', onClose).off('error', onError);
      r.error = error;
      resolve(r);
    };
    const body = (piece: Buffer): void => {
      if (piece.length === 0) return;
      if (r.bytes === 0) r.firstBodyMs = clock();
      onBody(r.bytes, piece);
      r.bytes += piece.length;
    };
    /** Hands on the body bytes of `data` this phase still expects; returns the rest. */
    const take = (data: Buffer): Buffer => {
      const piece = data.subarray(0, left);
      body(piece);
      left -= piece.length;
      return data.subarray(piece.length);
    };
    const ended = (): void => {
      r.lastByteMs = clock();
      r.complete = true;
      finish(null);
    };
    /** The text before the next CRLF in `pending` + `data`, or undefined (kept for the next read). */
    const line = (data: Buffer): { text: string; rest: Buffer } | undefined => {
      const all = pending.length === 0 ? data : Buffer.concat([pending, data]);
      const at = all.indexOf('\r\n');
      if (at < 0) {
        pending = all;
        return undefined;
      }
      pending = Buffer.alloc(0);
      return { text: all.subarray(0, at).toString('latin1'), rest: all.subarray(at + 2) };
    };

    const onData = (data: Buffer): void => {
      if (Number.isNaN(r.firstByteMs)) r.firstByteMs = clock();
      while (data.length > 0 && phase !== 'done') {
        switch (phase) {
          case 'head': {
            const all = pending.length === 0 ? data : Buffer.concat([pending, data]);
            const at = all.indexOf('\r\n\r\n');
            if (at < 0) {
              pending = all;
              if (pending.length > 65536) return finish('response head over 64 KiB');
              return;
            }
            pending = Buffer.alloc(0);
            const [statusLine, ...fields] = all.subarray(0, at).toString('latin1').split('\r\n');
            r.status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1] ?? 0);
            for (const f of fields) {
              const colon = f.indexOf(':');
              const name = f.slice(0, colon).trim().toLowerCase();
              const value = f.slice(colon + 1).trim();
              r.headers[name] = r.headers[name] === undefined ? value : `${r.headers[name]}, ${value}`;
            }
            data = all.subarray(at + 4);
            if (/\bchunked\b/i.test(r.headers['transfer-encoding'] ?? '')) phase = 'chunk-size';
            else if (r.headers['content-length'] !== undefined) {
              left = Number(r.headers['content-length']);
              phase = 'length';
              if (left === 0) return ended();
            } else return finish('neither Content-Length nor chunked');
            break;
          }
          case 'length':
            data = take(data);
            if (left === 0) return ended();
            break;
          case 'chunk-size': {
            const l = line(data);
            if (l === undefined) return;
            const size = /^([0-9a-f]+)(;.*)?$/i.exec(l.text); // a chunk extension may follow
            if (size === null) return finish(`bad chunk size ${JSON.stringify(l.text)}`);
            left = parseInt(size[1]!, 16);
            data = l.rest;
            phase = left === 0 ? 'trailer' : 'chunk-data';
            break;
          }
          case 'chunk-data':
            data = take(data);
            if (left === 0) {
              phase = 'chunk-crlf';
              left = 2;
            }
            break;
          case 'chunk-crlf': {
            const skip = Math.min(left, data.length);
            left -= skip;
            data = data.subarray(skip);
            if (left === 0) phase = 'chunk-size';
            break;
          }
          case 'trailer': {
            const l = line(data);
            if (l === undefined) return;
            data = l.rest;
            if (l.text === '') return ended();
            break;
          }
        }
      }
    };
    const onClose = (): void => finish('connection closed before the end of the body');
    const onError = (e: Error): void => finish((e as NodeJS.ErrnoException).code ?? e.message);
    const timer = setTimeout(() => finish(`timeout after ${timeoutMs} ms`), timeoutMs);
    socket.on('data', onData).on('close', onClose).on('error', onError);
  });
}
