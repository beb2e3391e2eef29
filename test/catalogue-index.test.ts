// Integration tests of `segd index` (indexTree): real temp trees, real worker pool.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { crcHex } from '../src/http/etag.js';
import { crc32cTable as crc32cJs } from '../src/native/fallback.js';
import { catalogueCommand } from '../src/cli/catalogue.js';
import { describeCatalogue } from '../src/catalogue/describe.js';
import { indexTree, type IndexResult } from '../src/catalogue/indexer.js';
import { MANIFEST_PATH, readManifest } from '../src/catalogue/manifest.js';
import { exitCodeForIndex, formatIndexReport, indexReportJson } from '../src/catalogue/report.js';
import { backdate, bytes, cleanup, goodLibrary, mediaPlaylist, tmpDir, writeTree } from './fixtures/catalogue/lib.js';

const dirs: string[] = [];
afterEach(() => {
  while (dirs.length) cleanup(dirs.pop()!);
});
function tree(spec: Record<string, string | Uint8Array>): string {
  const d = tmpDir();
  dirs.push(d);
  writeTree(d, spec);
  return d;
}
const run = (root: string, extra: Parameters<typeof indexTree>[1] = {}) => indexTree(root, { threads: 2, progress: false, ...extra });
const codes = (r: IndexResult, asset?: string) => r.errors.filter((e) => !asset || e.asset === asset).map((e) => e.code);

describe('indexTree', () => {
  it('indexes a clean library: hashes match independent CRC32C/SHA-256, manifest written, exit 0', async () => {
    const spec = goodLibrary();
    const root = tree(spec);
    const lines: string[] = [];
    const r = await run(root, { log: (l) => lines.push(l) });
    expect(r.errors).toEqual([]);
    expect(r.warnings).toEqual([]);
    expect(r.ok).toBe(true);
    expect(exitCodeForIndex(r)).toBe(0);
    expect(r.stats.files).toBe(Object.keys(spec).length);
    expect(r.stats.filesHashed).toBe(Object.keys(spec).length);
    expect(r.stats.playlists).toBe(5);
    expect(lines.join('\n')).toMatch(/GB\/s/);

    const m = await readManifest(root);
    expect(m).toEqual(r.manifest);
    expect(Object.keys(m!.entries)).toEqual(Object.keys(spec).sort());
    for (const [rel, data] of Object.entries(spec)) {
      const buf = Buffer.from(data);
      const e = m!.entries[rel]!;
      expect(e.size).toBe(buf.length);
      expect(e.crc32c).toBe(crcHex(crc32cJs(buf)));
      expect(e.sha256).toBe(createHash('sha256').update(buf).digest('base64'));
      expect(!!e.playlist).toBe(rel.endsWith('.m3u8'));
    }
    expect(m!.entries['movie/master.m3u8']!.playlist!.kind).toBe('master');
    expect(readFileSync(path.join(root, MANIFEST_PATH), 'utf8')).toMatch(/^\{\n "format": "segd-catalogue",\n "version": 1,/);

    const assets = describeCatalogue(m!);
    const master = assets.find((a) => a.path === 'movie/master.m3u8')!;
    expect(assets.filter((a) => a.topLevel).map((a) => a.path)).toEqual(['movie/master.m3u8']);
    expect(master).toMatchObject({ kind: 'master', status: 'ok', duration: 10.5, errors: 0 });
    expect(master.renditions.map((x) => [x.kind, x.resolution ?? x.name, x.bandwidth ?? null])).toEqual([
      ['variant', '640x360', 800000],
      ['variant', '1280x720', 2000000],
      ['iframe', '1280x720', 100000],
      ['audio', 'English', null],
    ]);
    expect(assets.find((a) => a.path === 'movie/fmp4720/index.m3u8')).toMatchObject({ segments: 3, bytes: 9700, duration: 9.508 });
    expect(JSON.parse(JSON.stringify(assets))).toEqual(assets);

    const json = JSON.parse(JSON.stringify(indexReportJson(r)));
    expect(json).toMatchObject({ command: 'index', ok: true, errorCount: 0 });
    expect(formatIndexReport(r)).toMatch(/OK: 0 errors, 0 warnings/);
  });

  it('a playlist naming a missing segment is an error of that playlist (exit 1)', async () => {
    const spec = goodLibrary();
    delete spec['movie/ts360/seg1.ts'];
    const root = tree(spec);
    const r = await run(root);
    expect(r.ok).toBe(false);
    expect(exitCodeForIndex(r)).toBe(1);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatchObject({ code: 'missing', asset: 'movie/ts360/index.m3u8', uri: 'seg1.ts', target: 'movie/ts360/seg1.ts', index: 1 });
    const text = formatIndexReport(r);
    expect(text).toMatch(/FAIL movie\/ts360\/index\.m3u8\n\s+error\s+\[missing\] segment #1 "seg1\.ts" → movie\/ts360\/seg1\.ts: no such file/);
    expect(text).toMatch(/FAILED: 1 error/);
    // the record is persisted in the manifest too, and the catalogue view shows it
    const m = (await readManifest(root))!;
    expect(m.entries['movie/ts360/index.m3u8']!.playlist!.errors[0]!.code).toBe('missing');
    expect(describeCatalogue(m).find((a) => a.path === 'movie/ts360/index.m3u8')!.status).toBe('errors');
  });

  it('a byte range past the end of its file', async () => {
    const spec = goodLibrary();
    spec['movie/fmp4720/media.mp4'] = bytes(8999, 98); // one byte short of the last 3000@6000 range
    const root = tree(spec);
    const r = await run(root);
    expect(r.errors.map((e) => [e.asset, e.code])).toEqual([
      ['movie/fmp4720/index.m3u8', 'byterange'],
    ]);
    expect(r.errors[0]!.message).toMatch(/segment #2 "media\.mp4": bytes 6000-8999 \(3000@6000\) extends past the end of movie\/fmp4720\/media\.mp4 \(8999 bytes\)/);
  });

  it('a playlist naming ../../etc/passwd is reported and the target is never opened', async () => {
    const outer = tmpDir();
    dirs.push(outer);
    const root = path.join(outer, 'lib', 'root');
    mkdirSync(path.join(outer, 'etc'), { recursive: true });
    // A FIFO at the escaped target: open() on it would block forever (no writer), hanging the index.
    execFileSync('mkfifo', [path.join(outer, 'etc', 'passwd')]);
    writeTree(root, {
      'evil.m3u8': mediaPlaylist({ segments: [{ uri: '../../etc/passwd' }, { uri: 'ok.ts' }] }),
      'ok.ts': bytes(10),
    });
    const r = await run(root);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatchObject({ code: 'escape', asset: 'evil.m3u8', uri: '../../etc/passwd' });
    expect(r.errors[0]!.message).toMatch(/resolves outside the catalogue root \(not read\)/);
    expect(r.errors[0]!.target).toBeUndefined();
    expect(Object.keys(r.manifest.entries).sort()).toEqual(['evil.m3u8', 'ok.ts']);
  }, 15_000);

  it('a master without BANDWIDTH is an error; without CODECS a warning', async () => {
    const spec = goodLibrary();
    spec['movie/master.m3u8'] = (spec['movie/master.m3u8'] as string)
      .replace('BANDWIDTH=800000,AVERAGE-BANDWIDTH=700000,', 'AVERAGE-BANDWIDTH=700000,')
      .replace('CODECS="avc1.640028,mp4a.40.2",RESOLUTION=1280x720,AUDIO', 'RESOLUTION=1280x720,AUDIO');
    const root = tree(spec);
    const r = await run(root);
    expect(codes(r)).toEqual(['bandwidth']);
    expect(r.errors[0]!.message).toBe('variant #0 "ts360/index.m3u8": EXT-X-STREAM-INF has no BANDWIDTH (required)');
    expect(r.warnings.filter((w) => w.code !== 'parser').map((w) => [w.code, w.index])).toEqual([['codecs', 1]]);
  });

  it('EXTINF over the target duration (after rounding) is an error', async () => {
    const spec = goodLibrary();
    spec['movie/ts360/index.m3u8'] = mediaPlaylist({ target: 4, segments: [{ uri: 'seg0.ts', dur: 4.49 }, { uri: 'seg1.ts', dur: 4.5 }, { uri: 'seg2.ts', dur: 2 }] });
    const root = tree(spec);
    const r = await run(root);
    expect(r.errors.map((e) => [e.asset, e.code, e.index])).toEqual([['movie/ts360/index.m3u8', 'extinf', 1]]);
    expect(r.errors[0]!.message).toMatch(/EXTINF 4\.5 s rounds to 5 s, over EXT-X-TARGETDURATION 4 s/);
  });

  it('variants must point to existing media playlists; broken playlists are reported', async () => {
    const root = tree({
      'm.m3u8': '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS="a"\ngone.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=2,CODECS="a"\nbad.m3u8\n',
      'bad.m3u8': 'this is not a playlist\n',
    });
    const r = await run(root);
    expect(r.errors.map((e) => [e.asset, e.code]).sort()).toEqual([
      ['bad.m3u8', 'not-playlist'],
      ['m.m3u8', 'missing'],
      ['m.m3u8', 'variant'],
    ]);
  });

  it('re-indexing is incremental: unchanged files reuse their hashes (counted)', async () => {
    const spec = goodLibrary();
    const root = tree(spec);
    const all = Object.keys(spec);
    backdate(root, all, 120);
    const r1 = await run(root);
    expect(r1.stats).toMatchObject({ filesHashed: all.length, reused: 0 });

    const r2 = await run(root);
    expect(r2.stats).toMatchObject({ filesHashed: 0, bytesHashed: 0, reused: all.length, files: all.length });
    expect(r2.manifest.entries).toEqual(r1.manifest.entries); // same hashes, same validation results

    // change one segment (same size, new bytes) and add one file
    writeFileSync(path.join(root, 'movie/ts360/seg0.ts'), bytes(2000, 12345));
    writeFileSync(path.join(root, 'movie/extra.bin'), bytes(10));
    // Out of r3's racy window too, so r4 can reuse them: written in the very millisecond r3
    // starts, a file's mtime (with its sub-millisecond part) is not below r3's start, and r4 then
    // hashes it again (seen once on a busy CI machine).
    backdate(root, ['movie/ts360/seg0.ts', 'movie/extra.bin'], 60);
    const r3 = await run(root);
    expect(r3.stats).toMatchObject({ filesHashed: 2, reused: all.length - 1, files: all.length + 1 });
    expect(r3.manifest.entries['movie/ts360/seg0.ts']!.crc32c).toBe(crcHex(crc32cJs(bytes(2000, 12345))));
    expect(r3.manifest.entries['movie/ts360/seg0.ts']!.crc32c).not.toBe(r1.manifest.entries['movie/ts360/seg0.ts']!.crc32c);

    // deleting a file drops its entry, and playlists referring to it become errors
    execFileSync('rm', [path.join(root, 'movie/audio/a2.aac')]);
    // (the two files written for r3 are within the default racy window of r4's start; accept size+mtime here to count only reuse)
    const r4 = await run(root, { racyWindowMs: 0 });
    expect(r4.stats.filesHashed).toBe(0);
    expect(r4.manifest.entries['movie/audio/a2.aac']).toBeUndefined();
    expect(codes(r4)).toEqual(['missing']);
  });

  it('files modified just before/after indexing ("racily clean") are re-hashed, not trusted', async () => {
    const root = tree({ 'a.bin': bytes(1000, 1), 'b.bin': bytes(1000, 2) });
    await run(root);
    // mtimes are within RACY_WINDOW_MS of the previous run's start: re-hash rather than trust size+mtime
    const r2 = await run(root);
    expect(r2.stats.filesHashed).toBe(2);
    const r3 = await run(root, { racyWindowMs: 0 });
    expect(r3.stats.filesHashed).toBe(0);
  });

  it('catalogueCommand: --json on stdout, summary on stderr, exit codes 0 / 1 / 2', async () => {
    const spec = goodLibrary();
    const root = tree(spec);
    const io = () => {
      const o = { out: '', err: '' };
      return { o, out: (s: string) => void (o.out += s), err: (s: string) => void (o.err += s) };
    };
    const a = io();
    expect(await catalogueCommand('index', root, { json: true, threads: 1, out: a.out, err: a.err })).toBe(0);
    expect(JSON.parse(a.o.out)).toMatchObject({ command: 'index', ok: true, errorCount: 0 });
    expect(a.o.err).toMatch(/GB\/s/);
    const b = io();
    expect(await catalogueCommand('verify', root, { threads: 1, out: b.out, err: b.err })).toBe(0);
    expect(b.o.out).toMatch(/^OK: 0 mismatches/m);
    writeFileSync(path.join(root, 'movie/ts360/seg0.ts'), 'x');
    const c = io();
    expect(await catalogueCommand('verify', root, { json: true, threads: 1, out: c.out, err: c.err })).toBe(1);
    expect(JSON.parse(c.o.out).problems[0]).toMatchObject({ kind: 'truncated', path: 'movie/ts360/seg0.ts' });
    const d = io();
    expect(await catalogueCommand('verify', path.join(root, 'movie'), { out: d.out, err: d.err })).toBe(2);
    expect(d.o.err).toMatch(/^segd: no manifest at /);
    const e = io();
    expect(await catalogueCommand('index', path.join(root, 'nope'), { json: true, out: e.out, err: e.err })).toBe(2);
    expect(JSON.parse(e.o.out)).toMatchObject({ ok: false, fatal: expect.stringMatching(/ENOENT/) });
  });

  it('skips dotfiles, the manifest itself, symlinks and FIFOs (reported), and recovers from a corrupt manifest', async () => {
    const root = tree({ 'a.ts': bytes(5), '.hidden': 'x', '.dir/b.ts': 'y', 'sub/.c': 'z' });
    symlinkSync('/etc/hostname', path.join(root, 'link.ts'));
    execFileSync('mkfifo', [path.join(root, 'pipe.ts')]);
    mkdirSync(path.join(root, '.segd'), { recursive: true });
    writeFileSync(path.join(root, MANIFEST_PATH), '{ torn');
    const r = await run(root);
    expect(Object.keys(r.manifest.entries)).toEqual(['a.ts']);
    expect(r.warnings.map((w) => [w.asset, w.code]).sort()).toEqual([
      ['.segd/manifest.json', 'manifest'],
      ['link.ts', 'symlink'],
      ['pipe.ts', 'special'],
    ]);
    expect(r.ok).toBe(true);
    expect((await readManifest(root))!.entries['a.ts']).toBeDefined();
  }, 15_000);
});
