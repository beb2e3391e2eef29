// The Rust crate's own unit tests (native/src: CRC32C vectors at every alignment, the SIGBUS
// guard's registry), run here so that `npm test` and CI run them too. A debug build on purpose:
// std then checks the preconditions of unsafe calls (a misaligned read_volatile panics) and the
// crate's debug_asserts hold.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { NATIVE_DIR, noCargo, skipping } from './helpers/native.js';

describe.skipIf(skipping('the crate unit tests (cargo test)', noCargo))('native crate', () => {
  it('cargo test passes', () => {
    const r = spawnSync('cargo', ['test', '--quiet'], { cwd: NATIVE_DIR, encoding: 'utf8', timeout: 240_000 });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/test result: ok\. [1-9]\d* passed; 0 failed/);
  }, 250_000);
});
