// What a server in this process hands its sockets: the byte path's writes, seen from the socket.
import { Socket } from 'node:net';
import { vi } from 'vitest';

/**
 * The writes server sockets took while `fetch` ran, each write a list of chunk sizes (more than
 * one: the socket queued them and took them at once), and those sockets.
 */
export async function serverWrites(fetch: () => Promise<unknown>): Promise<{ writes: number[][]; sockets: Set<Socket> }> {
  const one = vi.spyOn(Socket.prototype as unknown as { _write(c: Buffer, e: string, cb: () => void): void }, '_write');
  const many = vi.spyOn(Socket.prototype as unknown as { _writev(cs: Array<{ chunk: Buffer }>, cb: () => void): void }, '_writev');
  try {
    await fetch();
    const server = (s: unknown): boolean => (s as { server?: unknown }).server != null;
    const writes = [
      ...one.mock.calls.filter((_, i) => server(one.mock.contexts[i])).map(([c]) => [c.length]),
      ...many.mock.calls.filter((_, i) => server(many.mock.contexts[i])).map(([cs]) => cs.map((c) => c.chunk.length)),
    ];
    return { writes, sockets: new Set([...one.mock.contexts, ...many.mock.contexts].filter(server) as Socket[]) };
  } finally {
    one.mockRestore();
    many.mockRestore();
  }
}

