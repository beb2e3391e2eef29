/**
 * Resources and process life: aborted transfers free their mappings and fds, the CLI reports bad
 * input in one line with a non-zero exit, SIGTERM drains in-flight responses and exits 0, and the
 * handler mounts inside Express.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request, createServer } from 'node:http';
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import express from 'express';
import Fastify from 'fastify';
import { native } from '../src/native/index.js';
import { startServer } from '../src/server/listen.js';
import { createSegd } from '../src/index.js';
import { get } from './helpers/http.js';
import { cli } from './helpers/cli.js';
import { fdsOn, mappingsOf, skipping } from './helpers/native.js';
import { random, tempTree, type TempTree } from './helpers/content.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Open file descriptors of this process that refer to `file`, from the kernel's own view. */

async function settle(until: () => boolean): Promise<void> {
  for (let i = 0; i < 50 && !until(); i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
  }
}

let tree: TempTree;
let big: Buffer;
beforeAll(() => {
  tree = tempTree();
  big = tree.write('big.m4s', random(24 * 1024 * 1024));
});
afterAll(() => tree?.remove());

describe('client aborts', () => {
  it('a client that disconnects mid-body leaves no mapping and no fd behind', async () => {
    // The cache is smaller than the file, so nothing may legitimately keep its mapping.
    const s = await startServer({ root: tree.dir, host: '127.0.0.1', port: 0, threads: 1, cacheSize: '1MiB', player: false });
    try {
      const file = realpathSync(join(tree.dir, 'big.m4s'));
      const url = new URL(s.url);
      for (let i = 0; i < 5; i++) {
        const status = await new Promise<number>((resolve, reject) => {
          const req = request({ host: url.hostname, port: url.port, path: '/big.m4s', agent: false }, (res) => {
            res.once('data', () => {
              req.destroy(); // hang up after the first chunk of 24 MiB
              resolve(res.statusCode ?? 0);
            });
          });
          req.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? resolve(-1) : reject(e)));
          req.end();
        });
        expect(status).toBe(200);
      }
      await settle(() => mappingsOf(file) === 0);
      expect(mappingsOf(file)).toBe(0);
      // The file is too big for the memory tier: the read tier serves it after the first load,
      // and keeps one descriptor open for it (nginx's open_file_cache does the same); five
      // aborted reads must not have left one each.
      expect(fdsOn(file)).toBeLessThanOrEqual(1);
      // and the server still answers whole and correct
      const r = await get(s.url, '/big.m4s', { range: 'bytes=1000000-1000999' });
      expect(r.body.equals(big.subarray(1_000_000, 1_001_000))).toBe(true);
    } finally {
      await s.close(1000);
    }
  });

  it.skipIf(skipping('mappings held by a closed segd', native.kind === 'fallback' ? 'the fallback copies files: it maps nothing' : undefined))(
    'closing segd releases every cached mapping',
    async () => {
      const file = realpathSync(join(tree.dir, 'big.m4s'));
      await settle(() => mappingsOf(file) === 0); // collect what earlier tests left for GC
      const s = await startServer({ root: tree.dir, host: '127.0.0.1', port: 0, threads: 1, player: false });
      expect((await get(s.url, '/big.m4s')).body.equals(big)).toBe(true);
      expect(mappingsOf(file)).toBeGreaterThan(0);
      await s.close(1000);
      await settle(() => mappingsOf(file) === 0);
      expect(mappingsOf(file)).toBe(0);
    },
  );
});

describe('a cache smaller than what is in flight', () => {
  // Found by bench/soak.ts: loads finishing together evicted each other from the memory tier,
  // and the closed mapping of an evicted object ended the process from a request still using it.
  it('serves every request whole, without a crash, while objects leave the cache under them', async () => {
    const t = tempTree();
    const files = Array.from({ length: 32 }, (_, i) => t.write(`cold/seg${i}.m4s`, random(1024 * 1024)));
    const s = await startServer({ root: t.dir, host: '127.0.0.1', port: 0, threads: 1, cacheSize: '4MiB', player: false });
    try {
      for (let round = 0; round < 3; round++) {
        const replies = await Promise.all(files.map((_, i) => get(s.url, `/cold/seg${i}.m4s`, round === 1 ? { range: 'bytes=0-99,1000-1099' } : {})));
        replies.forEach((r, i) => {
          expect(r.status, `seg${i}`).toBe(round === 1 ? 206 : 200);
          if (round !== 1) expect(r.body.equals(files[i]!), `seg${i}`).toBe(true);
        });
      }
    } finally {
      await s.close(1000);
      t.remove();
    }
  });
});

describe('graceful drain', () => {
  it('lets the response in flight on a keep-alive connection finish, closes idle ones at once, then closes', async () => {
    const s = await startServer({ root: tree.dir, host: '127.0.0.1', port: 0, threads: 1, player: false });
    const url = new URL(s.url);
    const agent = new Agent({ keepAlive: true, maxSockets: 2 });
    try {
      // two keep-alive connections: one idle after a request, one that will carry a download
      const [a] = await Promise.all([0, 1].map(() => new Promise<Socket>((resolve, reject) => {
        const req = request({ host: url.hostname, port: url.port, path: '/big.m4s', headers: { range: 'bytes=0-0' }, agent }, (res) => {
          const socket = res.socket;
          res.resume();
          res.on('end', () => resolve(socket));
        });
        req.on('error', reject).end();
      })));
      const idleClosed = new Promise<number>((resolve) => a!.once('close', () => resolve(performance.now())));
      let body: Promise<Buffer> | undefined;
      const started = new Promise<void>((started) => {
        body = new Promise<Buffer>((resolve, reject) => {
          request({ host: url.hostname, port: url.port, path: '/big.m4s', agent }, (res) => {
            const chunks: Buffer[] = [];
            res.once('data', () => started());
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve(Buffer.concat(chunks)));
            res.on('error', reject);
          }).on('error', reject).end();
        });
      });
      await started;
      const t0 = performance.now();
      const closing = s.close(20_000);
      expect((await body!).equals(big)).toBe(true); // the response in flight finished whole
      await closing;
      // closed once its last response was flushed, not at the keep-alive timeout (5 s) or the grace (20 s)
      expect(performance.now() - t0).toBeLessThan(3000);
      expect(await idleClosed).toBeLessThan(t0 + 1000); // the idle connection went at once
    } finally {
      agent.destroy();
      await s.close(100);
    }
  });
});

describe('slow and stalled clients', () => {
  it('a client that never finishes its headers is cut off by the header timeout', async () => {
    const s = await startServer({ root: tree.dir, host: '127.0.0.1', port: 0, threads: 1, player: false, headersTimeoutMs: 1000 });
    try {
      const url = new URL(s.url);
      const t0 = Date.now();
      const closedAfter = await new Promise<number>((resolve, reject) => {
        const sock = connect(Number(url.port), url.hostname, () => sock.write('GET /big.m4s HTTP/1.1\r\nHost: x\r\n'));
        const drip = setInterval(() => sock.write('X-Slow: 1\r\n'), 200); // slowloris: never the blank line
        sock.on('close', () => {
          clearInterval(drip);
          resolve(Date.now() - t0);
        });
        sock.on('error', () => undefined);
        setTimeout(() => reject(new Error('still open after 8 s')), 8000);
      });
      expect(closedAfter).toBeGreaterThanOrEqual(900);
      expect(closedAfter).toBeLessThan(4000);
    } finally {
      await s.close(1000);
    }
  });

  it('a reader that reads slowly but steadily is never cut off, however long the body takes', async () => {
    const s = await startServer({ root: tree.dir, host: '127.0.0.1', port: 0, threads: 1, player: false, idleTimeoutMs: 1500 });
    try {
      const url = new URL(s.url);
      const t0 = performance.now();
      const received = await new Promise<number>((resolve, reject) => {
        const sock = connect(Number(url.port), url.hostname, () => sock.write('GET /big.m4s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
        let n = 0;
        sock.on('data', (c: Buffer) => {
          n += c.length;
          sock.pause(); // about 4 MB/s: several seconds for 24 MiB, many times the 1.5 s bound
          setTimeout(() => sock.resume(), 15);
        });
        sock.on('end', () => resolve(n));
        sock.on('error', reject);
      });
      expect(performance.now() - t0).toBeGreaterThan(3000);
      expect(received).toBeGreaterThan(big.length); // the whole body, headers on top
    } finally {
      await s.close(1000);
    }
  }, 30_000);

  it('a reader that stops reading is disconnected and its mapping released', async () => {
    const s = await startServer({ root: tree.dir, host: '127.0.0.1', port: 0, threads: 1, player: false, cacheSize: '1MiB', idleTimeoutMs: 1000 });
    try {
      const file = realpathSync(join(tree.dir, 'big.m4s'));
      const url = new URL(s.url);
      const connections = (): Promise<number> => new Promise((resolve, reject) => s.server.getConnections((e, n) => (e ? reject(e) : resolve(n))));
      const sock = connect(Number(url.port), url.hostname, () => sock.write('GET /big.m4s HTTP/1.1\r\nHost: x\r\n\r\n'));
      sock.on('error', () => undefined);
      await new Promise<void>((resolve) => sock.once('data', () => resolve()));
      sock.pause(); // read one chunk, then never again
      expect(await connections()).toBe(1);
      for (let i = 0; i < 40 && (await connections()) > 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect(await connections()).toBe(0); // the server gave up on it (idle bound 1 s)
      sock.destroy();
      await settle(() => mappingsOf(file) === 0);
      expect(mappingsOf(file)).toBe(0);
    } finally {
      await s.close(1000);
    }
  });
});

describe('as a library', () => {
  it('mounts in Express under a prefix', async () => {
    const segd = await createSegd({ root: tree.dir, threads: 1, player: false });
    const app = express();
    app.use('/video', segd.handler);
    const server = createServer(app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      const r = await get(base, '/video/big.m4s', { range: 'bytes=0-99' });
      expect(r.status).toBe(206);
      expect(r.body.equals(big.subarray(0, 100))).toBe(true);
      expect((await get(base, '/big.m4s')).status).toBe(404); // Express's own 404 outside the mount
    } finally {
      server.close();
      await segd.close();
    }
  });
});

describe('in Fastify', () => {
  it('serves through reply.hijack() with the raw request and response', async () => {
    const segd = await createSegd({ root: tree.dir, threads: 1, player: false });
    const app = Fastify();
    app.get('/video/*', (request, reply) => {
      reply.hijack();
      request.raw.url = request.raw.url!.slice('/video'.length);
      segd.handler(request.raw, reply.raw);
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/`;
      const r = await get(base, '/video/big.m4s', { range: 'bytes=10-19' });
      expect(r.status).toBe(206);
      expect(r.body.equals(big.subarray(10, 20))).toBe(true);
    } finally {
      await app.close();
      await segd.close();
    }
  });
});

describe('readiness', () => {
  it('/readyz turns 503 as soon as close() begins, while /healthz stays 200', async () => {
    const segd = await createSegd({ root: tree.dir, threads: 1, player: false });
    const server = createServer(segd.handler);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      expect((await get(base, '/readyz')).status).toBe(200);
      const closing = segd.close();
      expect(segd.ready).toBe(false);
      expect((await get(base, '/readyz')).status).toBe(503);
      expect((await get(base, '/healthz')).status).toBe(200);
      await closing;
    } finally {
      server.close();
    }
  });
});

describe('command line', () => {
  it('--help and --version', async () => {
    const help = cli(['--help']);
    expect(await help.exited).toBe(0);
    expect(help.output()).toMatch(/serve/);
    const version = cli(['--version']);
    expect(await version.exited).toBe(0);
    expect(version.output().trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it.each([
    [['serve', '/definitely/not/here'], /directory not found: \/definitely\/not\/here/],
    [['serve', '.', '--port', 'eighty'], /--port.*whole number/],
    [['serve', '.', '--cache-size', 'huge'], /not a size/],
    [['serve', '.', '--threads', '0'], /--threads.*whole number/],
    [['serve', '.', '--bogus'], /unknown option '--bogus'/],
  ])('%j fails with one clear line', async (args, message) => {
    const run = cli(args);
    const code = await run.exited;
    expect(code).not.toBe(0);
    expect(run.output()).toMatch(message);
    expect(run.output()).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('a port in use is one clear line', async () => {
    const blocker = createNetServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as AddressInfo).port;
    try {
      const run = cli(['serve', tree.dir, '--port', String(port)]);
      expect(await run.exited).toBe(1);
      expect(run.output()).toMatch(new RegExp(`port ${port} on 127.0.0.1 is already in use`));
    } finally {
      blocker.close();
    }
  });

  it('serves until SIGTERM, lets the in-flight response finish, and exits 0', async () => {
    const run = cli(['serve', tree.dir, '--port', '0', '--no-player'], { until: /serving .* at (http:\/\/\S+)/ });
    const out = await run.ready;
    const base = /at (http:\/\/\S+)/.exec(out)![1]!;
    // start a 24 MiB download over a slow reader, then ask the server to stop
    const url = new URL(base);
    const body = new Promise<Buffer>((resolve, reject) => {
      request({ host: url.hostname, port: url.port, path: '/big.m4s', agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.once('data', (c: Buffer) => {
          chunks.push(c);
          run.child.kill('SIGTERM');
          res.on('data', (d: Buffer) => chunks.push(d));
        });
        res.on('end', () => resolve(Buffer.concat(chunks)));
        res.on('error', reject);
      }).end();
    });
    const received = await body;
    expect(received.equals(big)).toBe(true);
    expect(await run.exited).toBe(0);
  });
});
