// Integration tests of `segd verify` (verifyTree): real temp trees, real worker pool.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, openSync, closeSync, readFileSync, readSync, statSync, symlinkSync, writeSync, truncateSync, unlinkSync, utimesSync, writeFileSync, appendFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { indexTree } from '../src/catalogue/indexer.js';
import { ManifestError } from '../src/catalogue/manifest.js';
import { exitCodeForVerify, formatVerifyReport, verifyReportJson } from '../src/catalogue/report.js';
import { verifyTree } from '../src/catalogue/verify.js';
import { cleanup, goodLibrary, tmpDir, writeTree } from './fixtures/catalogue/lib.js';

const dirs: string[] = [];
afterEach(() => {
  while (dirs.length) cleanup(dirs.pop()!);
});

/** Build the good library with whole-second mtimes (so an mtime can be restored exactly), index it. */
async function indexed(): Promise<string> {
  const d = tmpDir();
  dirs.push(d);
  const spec = goodLibrary();
  writeTree(d, spec);
  const t = Math.floor(Date.now() / 1000) - 3600;
  for (const rel of Object.keys(spec)) utimesSync(path.join(d, rel), t, t);
  const r = await indexTree(d, { threads: 2, progress: false });
  expect(r.ok).toBe(true);
  return d;
}
const verify = (root: string, o: Parameters<typeof verifyTree>[1] = {}) => verifyTree(root, { threads: 2, progress: false, ...o });

/** Flip one bit at `pos` in place (size unchanged). */
function flipBit(file: string, pos: number): void {
  const fd = openSync(file, 'r+');
  try {
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, pos);
    b[0] = b[0]! ^ 0x10;
    writeSync(fd, b, 0, 1, pos);
  } finally {
    closeSync(fd);
  }
}

describe('verifyTree', () => {
  it('a clean tree verifies (CRC32C, and with SHA-256)', async () => {
    const root = await indexed();
    const lines: string[] = [];
    const r = await verify(root, { log: (l) => lines.push(l) });
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
    expect(exitCodeForVerify(r)).toBe(0);
    expect(r.stats.checked).toBe(r.stats.listed);
    expect(r.stats.threads).toBe(2);
    expect(r.stats.seconds).toBeGreaterThan(0);
    expect(r.stats.seconds).toBeLessThan(60);
    expect(r.stats.gbps).toBeCloseTo(r.stats.bytesRead / r.stats.seconds / 1e9, 6);
    expect(lines).toEqual([expect.stringMatching(new RegExp(`^verified ${r.stats.checked}/${r.stats.listed} files, read .+ in \\d+\\.\\d\\d s = \\d+\\.\\d\\d GB/s \\(CRC32C, 2 threads\\)$`))]);
    const one = await verify(root, { threads: 0, log: (l) => lines.push(l) });
    expect(one.stats.threads).toBe(1); // at least one
    expect(lines[1]).toMatch(/ \(CRC32C, 1 threads\)$/);
    const r2 = await verify(root, { sha256: true, log: (l) => lines.push(l) });
    expect(lines[2]).toMatch(/ \(CRC32C \+ SHA-256, 2 threads\)$/);
    expect(r2.ok).toBe(true);
    expect(formatVerifyReport(r2)).toMatch(/OK: 0 mismatches/);
  });

  it('a flipped byte is caught: "bit rot" when size and mtime are unchanged, "modified" otherwise', async () => {
    const root = await indexed();
    const seg = path.join(root, 'movie/ts360/seg1.ts');
    const init = path.join(root, 'movie/fmp4720/init.mp4');
    const before = statSync(seg); // whole-second mtime (see indexed()), so it can be restored exactly
    flipBit(seg, 1234);
    utimesSync(seg, before.atime, before.mtime); // silent corruption: bytes differ, metadata identical
    expect(statSync(seg).mtimeMs).toBe(before.mtimeMs);
    flipBit(init, 0); // an ordinary edit: mtime moves
    const r = await verify(root);
    expect(r.ok).toBe(false);
    expect(exitCodeForVerify(r)).toBe(1);
    expect(r.problems.map((p) => [p.path, p.kind])).toEqual([
      ['movie/fmp4720/init.mp4', 'modified'],
      ['movie/ts360/seg1.ts', 'bit-rot'],
    ]);
    expect(r.problems[1]!.message).toMatch(/^bit rot: content changed with size and mtime unchanged \(CRC32C [0-9a-f]{8}, manifest says [0-9a-f]{8}\)$/);
    expect(r.problems[1]!.expected!.size).toBe(r.problems[1]!.actual!.size);
    expect(r.problems[0]!.message).toMatch(/^modified: content changed since indexing \(CRC32C [0-9a-f]{8}, manifest says [0-9a-f]{8}\)$/);
    expect(Object.keys(r.problems[0]!.expected!)).toEqual(['size', 'crc32c']); // no SHA-256 unless asked for
    const text = formatVerifyReport(r);
    expect(text).toMatch(/error\s+\[bit-rot\] movie\/ts360\/seg1\.ts: bit rot/);
    expect(text).toMatch(/FAILED: 2 mismatches/);
  });

  it('a SHA-256 that differs while the CRC32C matches is found only with --sha256, and counts what it read', async () => {
    const root = await indexed();
    const file = path.join(root, '.segd/manifest.json');
    const m = JSON.parse(readFileSync(file, 'utf8'));
    const rel = 'movie/ts360/seg1.ts';
    const recorded: string = m.entries[rel].sha256;
    m.entries[rel].sha256 = createHash('sha256').update('another file').digest('base64');
    writeFileSync(file, JSON.stringify(m));
    const total = Object.values(m.entries as Record<string, { size: number }>).reduce((n, e) => n + e.size, 0);
    const quick = await verify(root);
    expect(quick.problems).toEqual([]);
    expect(quick.stats).toMatchObject({ checked: quick.stats.listed, bytesRead: total });
    const full = await verify(root, { sha256: true });
    expect(full.problems.map((p) => [p.path, p.kind, p.message])).toEqual([
      [rel, 'bit-rot', `bit rot: content changed with size and mtime unchanged (SHA-256 ${recorded}, manifest says ${m.entries[rel].sha256})`],
    ]);
    expect(full.problems[0]!.actual).toMatchObject({ sha256: recorded });
    expect(full.problems[0]!.expected).toEqual({ size: m.entries[rel].size, crc32c: m.entries[rel].crc32c, sha256: m.entries[rel].sha256 });
    // A file gone before it is read is expected with its SHA-256 too.
    unlinkSync(path.join(root, 'movie/ts360/seg2.ts'));
    const gone = (await verify(root, { sha256: true })).problems.find((p) => p.kind === 'missing')!;
    expect(gone.expected).toEqual({ size: m.entries['movie/ts360/seg2.ts'].size, crc32c: m.entries['movie/ts360/seg2.ts'].crc32c, sha256: m.entries['movie/ts360/seg2.ts'].sha256 });
  });

  it('truncated, grown, missing and unlisted files', async () => {
    const root = await indexed();
    truncateSync(path.join(root, 'movie/fmp4720/media.mp4'), 4096);
    appendFileSync(path.join(root, 'movie/audio/a0.aac'), 'x');
    unlinkSync(path.join(root, 'movie/ts360/seg2.ts'));
    writeFileSync(path.join(root, 'movie/new.ts'), 'new');
    const r = await verify(root);
    expect(r.problems.map((p) => [p.path, p.kind, p.severity])).toEqual([
      ['movie/audio/a0.aac', 'grown', 'error'],
      ['movie/fmp4720/media.mp4', 'truncated', 'error'],
      ['movie/new.ts', 'unlisted', 'warning'],
      ['movie/ts360/seg2.ts', 'missing', 'error'],
    ]);
    expect(r.problems.map((p) => p.message)).toEqual([
      'size changed: 501 bytes, manifest says 500',
      'truncated: 4096 bytes, manifest says 9000',
      'present but not in the manifest (run segd index)',
      'missing (listed in the manifest, not on disk)',
    ]);
    expect(r).toMatchObject({ errors: 3, warnings: 1, ok: false });
    const json = JSON.parse(JSON.stringify(verifyReportJson(r)));
    expect(json).toMatchObject({ command: 'verify', ok: false, errorCount: 3, warningCount: 1 });
    expect(json.problems[1]).toMatchObject({ kind: 'truncated', expected: { size: 9000 }, actual: { size: 4096 } });
  });

  it('a listed file replaced by a symlink is reported, not followed', async () => {
    const root = await indexed();
    const seg = path.join(root, 'movie/ts360/seg0.ts');
    unlinkSync(seg);
    symlinkSync('/etc/hostname', seg);
    const r = await verify(root);
    expect(r.problems.map((p) => [p.path, p.kind, p.message])).toEqual([
      ['movie/ts360/seg0.ts', 'missing', 'no longer a regular file (symbolic link): listed in the manifest'],
    ]);
  });

  it('a listed file replaced by a FIFO is reported, not opened', async () => {
    const root = await indexed();
    const seg = path.join(root, 'movie/ts360/seg0.ts');
    unlinkSync(seg);
    execFileSync('mkfifo', [seg]);
    const r = await verify(root);
    expect(r.problems.map((p) => [p.path, p.kind, p.message])).toEqual([
      ['movie/ts360/seg0.ts', 'missing', 'no longer a regular file (special file): listed in the manifest'],
    ]);
  });

  it('reports progress: the bytes to read before the first read, each file once read, then stops', async () => {
    const root = await indexed();
    truncateSync(path.join(root, 'movie/fmp4720/media.mp4'), 10); // found by size, not read
    const m = JSON.parse(readFileSync(path.join(root, '.segd/manifest.json'), 'utf8'));
    const toRead = Object.entries(m.entries as Record<string, { size: number }>).filter(([rel]) => rel !== 'movie/fmp4720/media.mp4');
    const events: string[] = [];
    const r = await verify(root, {
      progress: (total) => {
        events.push(`start ${total}`);
        return { add: (n) => events.push(`add ${n}`), stop: () => events.push('stop') };
      },
    });
    expect(r.stats.checked).toBe(toRead.length);
    expect(events[0]).toBe(`start ${toRead.reduce((s, [, e]) => s + e.size, 0)}`);
    expect(events.slice(1, -1).sort()).toEqual(toRead.map(([, e]) => `add ${e.size}`).sort());
    expect(events.at(-1)).toBe('stop');
  });

  it('a file that changes between the walk and its read is judged by what the read finds', async () => {
    const root = await indexed();
    const m = JSON.parse(readFileSync(path.join(root, '.segd/manifest.json'), 'utf8'));
    const at = (rel: string) => path.join(root, rel);
    const expected = (rel: string) => ({ size: m.entries[rel].size, crc32c: m.entries[rel].crc32c });
    writeFileSync(at('movie/a-new.ts'), 'unlisted'); // an unlisted warning, sorted first though found last
    const r = await verify(root, {
      // Called after the walk, before any file is read: the changes race nothing.
      progress: () => {
        unlinkSync(at('movie/ts360/seg0.ts'));
        unlinkSync(at('movie/ts360/seg1.ts'));
        mkdirSync(at('movie/ts360/seg1.ts'));
        unlinkSync(at('movie/ts360/seg2.ts'));
        symlinkSync('/etc/hostname', at('movie/ts360/seg2.ts'));
        truncateSync(at('movie/fmp4720/media.mp4'), 4096);
        appendFileSync(at('movie/audio/a0.aac'), 'x');
        return { add() {}, stop() {} };
      },
    });
    const actual = (rel: string) => ({ size: statSync(at(rel)).size, crc32c: expect.stringMatching(/^[0-9a-f]{8}$/) });
    expect(r.problems).toStrictEqual([
      { severity: 'warning', kind: 'unlisted', path: 'movie/a-new.ts', message: 'present but not in the manifest (run segd index)' },
      { severity: 'error', kind: 'grown', path: 'movie/audio/a0.aac', message: 'size changed: 501 bytes, manifest says 500', expected: expected('movie/audio/a0.aac'), actual: actual('movie/audio/a0.aac') },
      { severity: 'error', kind: 'truncated', path: 'movie/fmp4720/media.mp4', message: 'truncated: 4096 bytes, manifest says 9000', expected: expected('movie/fmp4720/media.mp4'), actual: actual('movie/fmp4720/media.mp4') },
      { severity: 'error', kind: 'missing', path: 'movie/ts360/seg0.ts', message: 'missing (vanished during verify)', expected: expected('movie/ts360/seg0.ts') },
      { severity: 'error', kind: 'unreadable', path: 'movie/ts360/seg1.ts', message: 'cannot read: not a regular file', expected: expected('movie/ts360/seg1.ts') },
      { severity: 'error', kind: 'unreadable', path: 'movie/ts360/seg2.ts', message: expect.stringMatching(/^cannot read: ELOOP: too many symbolic links/), expected: expected('movie/ts360/seg2.ts') },
    ]);
    expect(r.stats.checked).toBe(r.stats.listed - 3); // the three unread files are not counted as checked
    expect(r).toMatchObject({ errors: 5, warnings: 1, ok: false });
  });

  it('only unlisted files → warnings, exit 0', async () => {
    const root = await indexed();
    writeFileSync(path.join(root, 'stray.bin'), 'x');
    const r = await verify(root);
    expect(r.ok).toBe(true);
    expect(r.warnings).toBe(1);
    expect(exitCodeForVerify(r)).toBe(0);
  });

  it('no manifest → ManifestError telling to run segd index', async () => {
    const d = tmpDir();
    dirs.push(d);
    await expect(verify(d)).rejects.toThrow(ManifestError);
    await expect(verify(d)).rejects.toThrow(/no manifest at .*: run "segd index/);
  });
});
