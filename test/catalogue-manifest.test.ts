// The manifest file: reading/validation and crash safety of the atomic write.
import { spawn } from 'node:child_process';
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { emptyManifest, MANIFEST_PATH, ManifestError, readManifest, writeManifestAtomic } from '../src/catalogue/manifest.js';
import { describeFailure, exitCodeForFailure } from '../src/catalogue/report.js';
import type { Manifest } from '../src/catalogue/types.js';
import { verifyTree } from '../src/catalogue/verify.js';
import { bigManifest, cleanup, tmpDir } from './fixtures/catalogue/lib.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const child = path.join(here, 'fixtures', 'catalogue', 'write-manifest-child.ts');
const dirs: string[] = [];
afterEach(() => {
  while (dirs.length) cleanup(dirs.pop()!);
});
function root(): string {
  const d = tmpDir();
  dirs.push(d);
  return d;
}
const segdFiles = (r: string) => readdirSync(path.join(r, '.segd')).sort();

function small(gen: number): Manifest {
  const m = emptyManifest(1_700_000_000_000 + gen);
  m.entries[`f${gen}.ts`] = { size: gen, mtimeMs: 1, crc32c: '00000001', sha256: 'ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=' };
  return m;
}

describe('readManifest', () => {
  it('absent → undefined; round-trips what writeManifestAtomic wrote', async () => {
    const r = root();
    expect(await readManifest(r)).toBeUndefined();
    await writeManifestAtomic(r, small(1));
    expect(await readManifest(r)).toEqual(small(1));
    expect(segdFiles(r)).toEqual(['manifest.json']);
  });

  it('a corrupt manifest is a clear ManifestError (and verify refuses to run, exit code 2)', async () => {
    const r = root();
    mkdirSync(path.join(r, '.segd'));
    writeFileSync(path.join(r, MANIFEST_PATH), '{"format":"segd-catalogue","version":1,"entr');
    await expect(readManifest(r)).rejects.toThrow(ManifestError);
    await expect(readManifest(r)).rejects.toThrow(/corrupt manifest .*manifest\.json: not valid JSON/);
    writeFileSync(path.join(r, MANIFEST_PATH), JSON.stringify({ ...small(1), entries: { 'a.ts': { size: 'big' } } }));
    await expect(readManifest(r)).rejects.toThrow(/entries\["a\.ts"\]\.size is not a byte count/);
    const err = await verifyTree(r, { threads: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ManifestError);
    expect(exitCodeForFailure(err)).toBe(2);
    expect(describeFailure(err)).toMatch(/^segd: corrupt manifest/);
  });
});

describe('writeManifestAtomic crash safety', () => {
  it('replaces the manifest by a rename, never by writing into it: a hard link to the old one keeps its bytes', async () => {
    const r = root();
    await writeManifestAtomic(r, small(1));
    const manifest = path.join(r, MANIFEST_PATH);
    const witness = path.join(r, 'witness.json');
    linkSync(manifest, witness); // the same inode under another name
    await writeManifestAtomic(r, small(2));
    expect(JSON.parse(readFileSync(witness, 'utf8'))).toEqual(small(1)); // that inode was never written to
    expect(statSync(manifest).ino).not.toBe(statSync(witness).ino); // the name now points at a new one
    expect(await readManifest(r)).toEqual(small(2));
  });

  it('a failure after the temp file is written, before the rename, leaves the old manifest intact', async () => {
    const r = root();
    await writeManifestAtomic(r, small(1));
    let sawTemp = '';
    await expect(
      writeManifestAtomic(r, small(2), {
        beforeRename: (temp) => {
          sawTemp = temp;
          expect(existsSync(temp)).toBe(true); // the new bytes are on disk...
          throw new Error('injected crash');
        },
      }),
    ).rejects.toThrow('injected crash');
    expect(sawTemp).toMatch(/manifest\.json\.tmp-\d+-[0-9a-f]+$/);
    expect(await readManifest(r)).toEqual(small(1)); // ...but the manifest is the old one
    expect(segdFiles(r)).toEqual(['manifest.json']); // and the temp file was removed
  });

  it('SIGKILL of a process between temp write and rename: old manifest intact, stale temp cleaned up later', async () => {
    const r = root();
    await writeManifestAtomic(r, small(1));
    const proc = spawn(process.execPath, ['--import', 'tsx', child, r, 'hold', '20000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const temp = await new Promise<string>((resolve, reject) => {
      let out = '';
      proc.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /TEMP (.+)\n/.exec(out);
        if (m) resolve(m[1]!);
      });
      proc.on('exit', (code) => reject(new Error(`child exited early (${code})`)));
    });
    proc.kill('SIGKILL');
    await new Promise((res) => proc.once('exit', res));
    expect(existsSync(temp)).toBe(true); // the crash left the (complete, unrenamed) temp behind
    expect(await readManifest(r)).toEqual(small(1));
    // the next writer removes temp files of dead writers
    await writeManifestAtomic(r, small(3));
    expect(segdFiles(r)).toEqual(['manifest.json']);
    expect(await readManifest(r)).toEqual(small(3));
  }, 30_000);

  // Killed at fixed moments into the writing of a generation (no random delay: a failure replays).
  it.each([0, 12, 30])('SIGKILL %i ms into rewriting a large manifest in a loop: always a complete manifest', async (delayMs) => {
    const r = root();
    const entries = 20000; // ~3 MB per manifest
    const proc = spawn(process.execPath, ['--import', 'tsx', child, r, 'loop', String(entries)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let wrote = 0;
    await new Promise<void>((resolve, reject) => {
      proc.stdout.on('data', (d: Buffer) => {
        const all = [...d.toString().matchAll(/WROTE (\d+)/g)];
        if (all.length) wrote = Number(all.at(-1)![1]);
        if (wrote >= 2) setTimeout(resolve, delayMs); // in the middle of writing generation wrote+1
      });
      proc.on('exit', (code) => reject(new Error(`child exited early (${code})`)));
    });
    proc.kill('SIGKILL');
    await new Promise((res) => proc.once('exit', res));
    const m = await readManifest(r);
    expect(m).toBeDefined();
    const gen = m!.createdMs - 1_700_000_000_000;
    expect(gen).toBeGreaterThanOrEqual(wrote); // the last completed generation or a later one, never torn
    expect(m).toEqual(bigManifest(gen, entries));
  }, 30_000);
});
