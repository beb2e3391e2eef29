// The edge bench's herd reads responses with its own minimal HTTP/1.1 reader: its framing must be
// right for every split of the bytes across reads, or the herd would report intact bodies wrongly.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { readResponse, type RawResult } from '../bench/edge/raw-response.js';

const open: net.Server[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

/** A server that writes `pieces` one per turn (so the client reads them apart), then `close` or keeps the socket. */
async function read(pieces: readonly string[], closeAfter = false): Promise<{ r: RawResult; body: string }> {
  const server = net.createServer((sock) => {
    let i = 0;
    const next = (): void => {
      if (i < pieces.length) sock.write(pieces[i++]!, () => setTimeout(next, 5));
      else if (closeAfter) sock.end();
    };
    next();
  });
  open.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const socket = net.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', noDelay: true });
  const parts: Buffer[] = [];
  const r = await readResponse(socket, () => 0, (offset, piece) => {
    expect(offset).toBe(Buffer.concat(parts).length);
    parts.push(Buffer.from(piece));
  }, 5000);
  socket.destroy();
  return { r, body: Buffer.concat(parts).toString('latin1') };
}

const head = (extra: string): string => `HTTP/1.1 200 OK\r\nX-Cache: HIT\r\nx-cache: again\r\n${extra}\r\n`;

describe('the herd client reads one response', () => {
  it.each([
    ['Content-Length in one piece', [head('Content-Length: 5\r\n') + 'hello'], 'hello'],
    ['Content-Length, head split inside CRLF CRLF', [head('Content-Length: 5\r\n').slice(0, -3), '\r\n\r', '\nhel', 'lo'], 'hello'],
    ['empty Content-Length body', [head('Content-Length: 0\r\n')], ''],
    ['chunked, sizes and CRLFs split anywhere', [head('Transfer-Encoding: chunked\r\n') + '5\r', '\nhel', 'lo\r', '\n', 'A\r\n0123456789', '\r\n0\r', '\n\r\n'], 'hello0123456789'],
    ['chunked with a trailer', [head('Transfer-Encoding: chunked\r\n') + '3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n'], 'abc'],
  ])('%s', async (_name, pieces, body) => {
    const got = await read(pieces);
    expect(got.r).toMatchObject({ status: 200, complete: true, error: null, bytes: body.length });
    expect(got.body).toBe(body);
    expect(got.r.headers['x-cache']).toBe('HIT, again');
  });

  it.each([
    ['a body cut short', [head('Content-Length: 10\r\n') + 'short']],
    ['chunked without its last chunk', [head('Transfer-Encoding: chunked\r\n') + '3\r\nabc\r\n']],
    ['neither length nor chunked', [head('') + 'abc']],
  ])('%s is not complete', async (_name, pieces) => {
    const got = await read(pieces, true);
    expect(got.r.complete).toBe(false);
    expect(got.r.error).toMatch(/closed before the end|neither Content-Length/);
  });
});
