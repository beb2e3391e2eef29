/**
 * The request handler's last line of defence: a content answer that throws (a hit is answered
 * synchronously, within the request's own turn) or rejects is a bug, and becomes a logged 500,
 * never an uncaught exception that takes the process and every other viewer down with it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHandler } from '../src/serve/handler.js';
import { CorsPolicy } from '../src/http/cors.js';
import { Metrics } from '../src/observe/metrics.js';

const logged: string[] = [];
let server: http.Server;
let base = '';

beforeAll(async () => {
  const cors = new CorsPolicy();
  const handler = createHandler({
    metrics: new Metrics({ cacheBytes: () => 0, cacheEntries: () => 0, readTierFiles: () => 0, poolQueueDepth: () => 0, sigbusRepairs: () => 0, nativeHandles: () => 0 }),
    cors,
    corsOf: () => cors.staticHeaders(),
    maxUrlLength: 8192,
    serveFile: () => undefined,
    content: undefined,
    mounts: [],
    endpoints: new Map(),
    log: (msg) => logged.push(msg),
    home: undefined,
    edge: (_req, res, path) => {
      if (path === 'throws.m4s') throw new Error('a bug');
      if (path === 'rejects.m4s') return Promise.reject(new Error('a bug, later'));
      res.writeHead(200, ['Content-Length', '2']);
      res.end('ok');
    },
  });
  server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('a content answer that fails', () => {
  it.each([
    ['throws.m4s', 'serving /throws.m4s failed'],
    ['rejects.m4s', 'serving rejects.m4s failed'],
  ])('%s: a 500, logged, and the server goes on answering', async (name, line) => {
    const r = await fetch(`${base}/${name}`);
    expect(r.status).toBe(500);
    expect(await r.text()).toBe('500 Internal Server Error\n');
    expect(logged).toContain(line);
    const after = await fetch(`${base}/fine.m4s`);
    expect(after.status).toBe(200);
    expect(await after.text()).toBe('ok');
  });
});
