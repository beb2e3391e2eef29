/**
 * What segd refuses and how cheaply: unreadable files answer 403 (remembered like a 404, logged
 * once), read errors 500 (remembered, logged once), dotfiles stay hidden through symlinks, and a
 * trailing slash on a file names nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../src/server/listen.js';
import { serveCli, type CliRun } from './helpers/cli.js';
import { get } from './helpers/http.js';
import { random, tempTree, vodPlaylist, type TempTree } from './helpers/content.js';
import { capturedDiagnostics } from './helpers/diagnostics.js';

async function metric(base: string, name: string): Promise<number> {
  const text = (await get(base, '/metrics')).body.toString();
  return Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? NaN);
}

describe('unreadable files (segd running as an unprivileged user)', () => {
  let tree: TempTree;
  let run: CliRun & { base: string };
  beforeAll(async () => {
    tree = tempTree();
    chmodSync(tree.dir, 0o755);
    tree.write('ok.ts', random(1000));
    tree.write('locked.ts', random(100_000));
    chmodSync(join(tree.dir, 'locked.ts'), 0o000);
    tree.write('closed/seg.ts', random(1000));
    chmodSync(join(tree.dir, 'closed'), 0o000);
    // Permissions bind only other users: as root, run segd as nobody.
    const user = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    run = await serveCli([tree.dir, '--port', '0', '--no-player', '--threads', '1'], user);
  });
  afterAll(() => {
    run?.child.kill('SIGKILL');
    chmodSync(join(tree.dir, 'closed'), 0o755);
    tree?.remove();
  });

  it('answer 403, remembered: a flood costs one pool task and one log line', async () => {
    expect((await get(run.base, '/ok.ts')).status).toBe(200);
    const tasksBefore = await metric(run.base, 'segd_pool_task_seconds_count');
    const statuses = new Set<number>();
    for (let i = 0; i < 200; i++) statuses.add((await get(run.base, '/locked.ts')).status);
    expect([...statuses]).toEqual([403]);
    expect(await metric(run.base, 'segd_pool_task_seconds_count')).toBeLessThanOrEqual(tasksBefore + 1);
    const lines = run.stderr().split('\n').filter((l) => l.includes('locked.ts'));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 50, msg: 'cannot read file', file: join(tree.dir, 'locked.ts'), code: 'EACCES' });
  });

  it('a file under an unreadable directory answers 403 too', async () => {
    const r = await get(run.base, '/closed/seg.ts');
    expect(r.status).toBe(403);
    expect(r.headers['cache-control']).toBe('no-store');
  });
});

describe('read errors', () => {
  it('answer 500, remembered for the validity window, logged once with the errno code', async () => {
    const tree = tempTree();
    // /proc/self/mem reads fail with EIO at offset 0: a real read error on demand.
    symlinkSync('/proc/self/mem', join(tree.dir, 'broken.ts'));
    const { diag, lines } = capturedDiagnostics();
    const srv = await startServer({ root: tree.dir, port: 0, threads: 1, player: false, followSymlinks: true, validityMs: 60_000, diagnostics: diag });
    try {
      for (let i = 0; i < 20; i++) expect((await get(srv.url, '/broken.ts')).status).toBe(500);
      expect(await metric(srv.url, 'segd_pool_task_seconds_count')).toBe(1);
      expect(lines.filter((l) => l.msg === 'cannot read file')).toEqual([expect.objectContaining({ level: 50, file: join(tree.dir, 'broken.ts'), code: 'EIO' })]);
    } finally {
      await srv.close(500);
      tree.remove();
    }
  });

  it('repeat after the validity window but are logged once per log window', async () => {
    const tree = tempTree();
    symlinkSync('/proc/self/mem', join(tree.dir, 'broken.ts'));
    const { diag, lines } = capturedDiagnostics();
    const srv = await startServer({ root: tree.dir, port: 0, threads: 1, player: false, followSymlinks: true, validityMs: 20, diagnostics: diag });
    try {
      for (let i = 0; i < 6; i++) {
        expect((await get(srv.url, '/broken.ts')).status).toBe(500);
        await new Promise((r) => setTimeout(r, 40)); // past the 20 ms validity window
      }
      expect(await metric(srv.url, 'segd_pool_task_seconds_count')).toBe(6); // looked at again per window...
      expect(lines.filter((l) => l.msg === 'cannot read file')).toHaveLength(1); // ...but said once
    } finally {
      await srv.close(500);
      tree.remove();
    }
  });
});

describe('dotfiles through symlinks', () => {
  let tree: TempTree;
  let outside: TempTree;
  const servers: RunningServer[] = [];
  beforeAll(() => {
    tree = tempTree();
    outside = tempTree('segd-outside-');
    tree.write('.env', 'SECRET=1\n');
    tree.write('.segd/manifest.json', '{}');
    tree.write('v/seg.ts', 'visible');
    symlinkSync(join(tree.dir, '.env'), join(tree.dir, 'visible.txt'));
    symlinkSync(join(tree.dir, '.segd'), join(tree.dir, 'segdlink'));
    symlinkSync('.env', join(tree.dir, 'v-relative.txt'));
    outside.write('.ssh/key', 'PRIVATE');
    outside.write('public/ok.ts', 'fine');
    symlinkSync(join(outside.dir, '.ssh'), join(tree.dir, 'keys'));
    symlinkSync(join(outside.dir, 'public'), join(tree.dir, 'pub'));
  });
  afterAll(async () => {
    for (const s of servers) await s.close(500);
    tree?.remove();
    outside?.remove();
  });

  it.each([false, true])('stay hidden (follow-symlinks: %s)', async (followSymlinks) => {
    const srv = await startServer({ root: tree.dir, port: 0, threads: 1, player: false, followSymlinks });
    servers.push(srv);
    for (const path of ['/visible.txt', '/segdlink/manifest.json', '/v-relative.txt', '/keys/key']) {
      const r = await get(srv.url, path);
      expect(r.status, path).toBe(404);
      expect(r.body.toString()).not.toMatch(/SECRET|PRIVATE|\{\}/);
    }
    expect((await get(srv.url, '/v/seg.ts')).status).toBe(200);
    expect((await get(srv.url, '/pub/ok.ts')).status).toBe(followSymlinks ? 200 : 404);
  });
});

describe('paths', () => {
  let tree: TempTree;
  let srv: RunningServer;
  beforeAll(async () => {
    tree = tempTree();
    tree.write('ts/master.m3u8', vodPlaylist(['a.ts']));
    srv = await startServer({ root: tree.dir, port: 0, threads: 1, player: true });
  });
  afterAll(async () => {
    await srv?.close(500);
    tree?.remove();
  });

  it('a trailing slash on a file is 404, as in nginx', async () => {
    expect((await get(srv.url, '/ts/master.m3u8/')).status).toBe(404);
    expect((await get(srv.url, '/ts/')).status).toBe(404);
    expect((await get(srv.url, '/player/vendor/')).status).toBe(404);
  });

  it('repeated slashes are merged, as in nginx', async () => {
    expect((await get(srv.url, '/ts//master.m3u8')).status).toBe(200);
    expect((await get(srv.url, '//ts/master.m3u8')).status).toBe(200);
  });

  it('the player page keeps its directory form', async () => {
    expect((await get(srv.url, '/player/')).status).toBe(200);
    const r = await get(srv.url, '/player');
    expect(r.status).toBe(302);
    expect(r.headers.location).toBe('/player/');
  });
});
