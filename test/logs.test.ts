/**
 * Every line segd writes goes through one logger: diagnostics as JSON lines on stderr with the
 * file and a reason, rate-limited per key; the access log alone on stdout, one JSON object a line.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, closeSync, openSync, utimesSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { diagnostics } from '../src/observe/log.js';
import { indexTree } from '../src/catalogue/indexer.js';
import { serveCli, type CliRun } from './helpers/cli.js';
import { get } from './helpers/http.js';
import { random, tempTree, vodPlaylist, type TempTree } from './helpers/content.js';
import { eventually } from './helpers/wait.js';

describe('rate-limited lines', () => {
  it('writes the first line of a window, counts the rest, and reports the count with the next', async () => {
    const out: Record<string, unknown>[] = [];
    const sink = new Writable({ write: (c: Buffer, _e, done) => (out.push(JSON.parse(c.toString()) as Record<string, unknown>), done()) });
    const d = diagnostics(pino({ base: undefined }, sink), 50);
    for (let i = 0; i < 5; i++) d.limited('warn', 'k1', 'again', { file: 'a' });
    d.limited('warn', 'k2', 'other', { file: 'b' });
    await eventually(() => out.length === 2);
    await new Promise((r) => setTimeout(r, 60));
    d.limited('warn', 'k1', 'again', { file: 'a' });
    await eventually(() => out.length === 3);
    expect(out.map((l) => [l.msg, l.file, l.repeated])).toEqual([['again', 'a', undefined], ['other', 'b', undefined], ['again', 'a', 4]]);
  });
});

describe('a workload with malformed playlists, missing files, refusals and integrity failures', () => {
  let tree: TempTree;
  let run: CliRun & { base: string };
  beforeAll(async () => {
    tree = tempTree();
    chmodSync(tree.dir, 0o755);
    tree.write('v/main.m3u8', vodPlaylist(['seg0.ts']));
    tree.write('v/seg0.ts', random(100_000));
    tree.write('bad/junk.m3u8', 'this is not a playlist\n');
    tree.write('bad/noduration.m3u8', '#EXTM3U\n#EXTINF:abc,\nseg.ts\n');
    const rot = tree.write('rot/seg.ts', random(100_000));
    const old = new Date(Date.now() - 60_000);
    for (const f of ['v/main.m3u8', 'v/seg0.ts', 'rot/seg.ts']) utimesSync(join(tree.dir, f), old, old);
    await indexTree(tree.dir, { threads: 1, progress: false });
    const fd = openSync(join(tree.dir, 'rot/seg.ts'), 'r+');
    writeSync(fd, Buffer.from([rot[500]! ^ 0xff]), 0, 1, 500); // a byte that differs (a fixed 0 was already there one run in 256)
    closeSync(fd);
    utimesSync(join(tree.dir, 'rot/seg.ts'), old, old);
    tree.write('locked.ts', 'x');
    chmodSync(join(tree.dir, 'locked.ts'), 0);
    const user = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    run = await serveCli([tree.dir, '--port', '0', '--no-player', '--log', '--validity', '50'], user);
    const paths = ['/v/main.m3u8', '/v/seg0.ts', '/bad/junk.m3u8', '/bad/noduration.m3u8', '/rot/seg.ts', '/missing.ts', '/locked.ts', '/.env', '/v/seg0.ts/', '/%zz'];
    for (let round = 0; round < 10; round++) {
      await Promise.all(paths.map((p) => get(run.base, p, round % 2 ? { range: 'bytes=0-99' } : {})));
      await new Promise((r) => setTimeout(r, 60)); // past the validity window: files are looked at again
    }
    await new Promise((r) => setTimeout(r, 100));
  });
  afterAll(() => {
    run?.child.kill('SIGKILL');
    tree?.remove();
  });

  it('stdout is the access log and nothing else: every line one JSON object', () => {
    const lines = run.stdout().split('\n').filter((l) => l !== '');
    expect(lines.length).toBe(100);
    const statuses = new Set<number>();
    for (const line of lines) {
      const entry = JSON.parse(line) as { method: string; url: string; status: number };
      expect(entry).toMatchObject({ method: 'GET', url: expect.any(String), status: expect.any(Number) });
      statuses.add(entry.status);
    }
    expect([...statuses].sort()).toEqual([200, 206, 400, 403, 404, 503]);
  });

  it('stderr is JSON lines, each with a file and a reason, and a malformed playlist is said once', () => {
    const lines = run.stderr().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
    const problems = lines.filter((l) => (l.level as number) >= 40);
    for (const p of problems) expect(p).toMatchObject({ file: expect.any(String), reason: expect.any(String) });
    const about = (file: string): Record<string, unknown>[] => problems.filter((p) => p.file === join(tree.dir, file));
    expect(about('bad/junk.m3u8')).toEqual([expect.objectContaining({ msg: 'malformed playlist, served as it is', reason: expect.stringMatching(/first line must be #EXTM3U/) })]);
    expect(about('bad/noduration.m3u8')).toHaveLength(1);
    expect(about('rot/seg.ts')).toEqual([expect.objectContaining({ msg: 'integrity check failed, file refused until it changes' })]);
    expect(about('locked.ts')).toEqual([expect.objectContaining({ code: 'EACCES' })]);
    expect(run.stderr()).not.toMatch(/Invalid Playlist/);
  });
});
