/**
 * Fair use of connection slots: one address flooding with idle sockets cannot keep a player on
 * another address from its playlist (the flood comes from 127.0.0.2, the player from 127.0.0.1:
 * loopback answers on all of 127/8), and the cap fits the descriptor limit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Socket } from 'node:net';
import { Agent, request } from 'node:http';
import { addressKey } from '../src/server/address.js';
import { startServer, type RunningServer } from '../src/server/listen.js';
import { cli, serveCli } from './helpers/cli.js';
import { tempTree, vodPlaylist, type TempTree } from './helpers/content.js';
import { metric } from './helpers/http.js';
import { eventually } from './helpers/wait.js';

describe('addressKey', () => {
  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['::ffff:10.1.2.3', '10.1.2.3'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::9', '2001:db8:1:2::/64'],
    ['2001:DB8:0001:0002:aaaa::', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    [undefined, ''],
  ])('%s → %s', (remote, key) => {
    expect(addressKey(remote)).toBe(key);
  });
});

let tree: TempTree;
let playlist: Buffer;
beforeAll(() => {
  tree = tempTree();
  playlist = tree.write('live/main.m3u8', vodPlaylist(['a.ts', 'b.ts']));
});
afterAll(() => tree?.remove());

/** Opens `n` idle sockets from `localAddress` and resolves once each is connected or refused. */
async function flood(base: string, localAddress: string, n: number): Promise<Socket[]> {
  const url = new URL(base);
  const sockets: Socket[] = [];
  await Promise.all(
    Array.from({ length: n }, () =>
      new Promise<void>((resolve) => {
        const s = connect({ host: url.hostname, port: Number(url.port), localAddress });
        s.on('error', () => resolve());
        s.on('connect', () => resolve());
        s.on('close', () => resolve());
        sockets.push(s);
      }),
    ),
  );
  await new Promise((r) => setTimeout(r, 100)); // let the server's accept queue drain
  return sockets;
}

/** Time to fetch the playlist from 127.0.0.1 on a fresh connection; rejects on any failure. */
function timedPlaylist(base: string): Promise<{ ms: number; status: number; body: Buffer }> {
  const url = new URL(base);
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: '/live/main.m3u8', agent: false, localAddress: '127.0.0.1' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ ms: performance.now() - t0, status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const alive = (sockets: Socket[]): number => sockets.filter((s) => !s.destroyed && s.readyState === 'open').length;

describe('keep-alive', () => {
  it('a connection outside a drain stays open for the next request', async () => {
    const srv = await startServer({ root: tree.dir, host: '127.0.0.1', port: 0, threads: 1, player: false });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const url = new URL(srv.url);
    const fetchOne = (): Promise<{ connection: string | undefined; reused: boolean; body: Buffer }> =>
      new Promise((resolve, reject) => {
        const req = request({ host: url.hostname, port: url.port, path: '/live/main.m3u8', agent }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ connection: res.headers.connection, reused: req.reusedSocket, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end();
      });
    try {
      const first = await fetchOne();
      expect(first.connection).toBe('keep-alive');
      const second = await fetchOne();
      expect(second.reused).toBe(true); // the same connection, not closed after the first answer
      expect(second.body.equals(playlist)).toBe(true);
    } finally {
      agent.destroy();
      await srv.close(500);
    }
  });
});

describe('one address flooding with idle sockets', () => {
  let srv: RunningServer | undefined;
  afterAll(async () => srv?.close(500));

  // Without the fix the player waits for the flood's header timeout (10 s) or gets an empty reply.
  it('is held to its share by the per-address limit; another address still gets its playlist at once', async () => {
    srv = await startServer({ root: tree.dir, port: 0, threads: 1, player: false, maxConnections: 300 });
    const sockets = await flood(srv.url, '127.0.0.2', 450);
    try {
      await eventually(() => alive(sockets) <= 30, { what: 'the flood held to a tenth of the cap' });
      const r = await timedPlaylist(srv.url);
      expect(r.status).toBe(200);
      expect(r.body.equals(playlist)).toBe(true);
      expect(r.ms).toBeLessThan(1000);
      expect(await metric(srv.url, 'segd_connections_refused_total')).toBeGreaterThanOrEqual(420);
    } finally {
      for (const s of sockets) s.destroy();
      await srv.close(500);
      srv = undefined;
    }
  });

  it('loses its idle sockets first when every slot is taken (no per-address limit)', async () => {
    srv = await startServer({ root: tree.dir, port: 0, threads: 1, player: false, maxConnections: 300, maxConnectionsPerAddress: 0 });
    const sockets = await flood(srv.url, '127.0.0.2', 450);
    try {
      await eventually(() => alive(sockets) <= 300, { what: 'the flood held to the cap' });
      for (let i = 0; i < 5; i++) {
        const r = await timedPlaylist(srv.url);
        expect(r.status).toBe(200);
        expect(r.body.equals(playlist)).toBe(true);
        expect(r.ms).toBeLessThan(1000);
      }
      expect(await metric(srv.url, 'segd_connections_reclaimed_total')).toBeGreaterThan(0);
      // the flood's oldest sockets went first
      expect(sockets[0]!.destroyed || sockets[0]!.readyState !== 'open').toBe(true);
    } finally {
      for (const s of sockets) s.destroy();
      await srv.close(500);
      srv = undefined;
    }
  });

  it('reclaims from the heaviest address first when several flood', async () => {
    srv = await startServer({ root: tree.dir, port: 0, threads: 1, player: false, maxConnections: 200, maxConnectionsPerAddress: 0 });
    const light = await flood(srv.url, '127.0.0.3', 5);
    const heavy = await flood(srv.url, '127.0.0.2', 300);
    try {
      expect(alive(light)).toBe(5); // the light address kept every socket, though older
      expect((await timedPlaylist(srv.url)).status).toBe(200);
    } finally {
      for (const s of [...light, ...heavy]) s.destroy();
      await srv.close(500);
      srv = undefined;
    }
  });
});

describe('the descriptor limit', () => {
  it('raises the soft limit to the hard one, so the default cap fits without a warning', async () => {
    const run = await serveCli([tree.dir, '--port', '0', '--no-player'], { shellPrefix: 'ulimit -Sn 1024' });
    try {
      const sockets = await flood(run.base, '127.0.0.2', 1500);
      expect(alive(sockets)).toBeGreaterThan(900); // past the old soft limit of 1024 fds in all
      expect((await timedPlaylist(run.base)).status).toBe(200);
      for (const s of sockets) s.destroy();
      expect(run.stderr()).not.toMatch(/connection cap lowered/);
    } finally {
      run.child.kill('SIGKILL');
    }
  });

  it('lowers the default cap to fit a hard limit, says so, and keeps serving under a flood', async () => {
    const run = await serveCli([tree.dir, '--port', '0', '--no-player', '--max-connections-per-address', '0'], { shellPrefix: 'ulimit -n 1024' });
    try {
      const warning = run.stderr().split('\n').find((l) => l.includes('connection cap lowered'));
      expect(warning).toBeDefined();
      expect(JSON.parse(warning!)).toMatchObject({ level: 40, maxConnections: 1024 - 128 });
      const sockets = await flood(run.base, '127.0.0.2', 1500);
      const r = await timedPlaylist(run.base);
      expect(r.status).toBe(200);
      expect(r.body.equals(playlist)).toBe(true);
      for (const s of sockets) s.destroy();
      expect(run.child.exitCode).toBeNull();
    } finally {
      run.child.kill('SIGKILL');
    }
  });

  it('refuses to start when --max-connections is given and cannot fit', async () => {
    const run = cli(['serve', tree.dir, '--port', '0', '--max-connections', '5000'], { shellPrefix: 'ulimit -n 1024' });
    expect(await run.exited).toBe(2);
    expect(run.stderr()).toMatch(/--max-connections 5000 does not fit the open-file limit of 1024/);
  });
});
