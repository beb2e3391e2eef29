// The addon's surface: which file is looked for on which platform, and what the default build
// exports. The exports' one source of truth is the `exports!` call in native/src/lib.rs; the
// lists in src/native/index.ts (from which its RawAddon type is derived) are checked against the
// binary here, and against the --features bench build in test/native-bench.test.ts.
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ADDON_EXPORTS, BENCH_EXPORTS, addonFileName } from '../src/native/index.js';
import { NATIVE_DIR, skipping } from './helpers/native.js';

describe('addon file per platform', () => {
  it('names a file only where native/src/sys/libc.rs builds (Linux glibc, x64 and arm64)', () => {
    expect(addonFileName('linux', 'x64')).toBe('segd.linux-x64-gnu.node');
    expect(addonFileName('linux', 'arm64')).toBe('segd.linux-arm64-gnu.node');
    expect(addonFileName('linux', 'ia32')).toBeUndefined();
    expect(addonFileName('darwin', 'arm64')).toBeUndefined();
    expect(addonFileName('darwin', 'x64')).toBeUndefined();
    expect(addonFileName('win32', 'x64')).toBeUndefined();
  });
});

const name = addonFileName();
const built = name === undefined ? undefined : path.join(NATIVE_DIR, name);
const notBuilt = built === undefined ? `no addon for ${process.platform}-${process.arch}` : fs.existsSync(built) ? undefined : `${built} is not built (npm run build:native)`;

describe('the default build', () => {
  it.skipIf(skipping('the default build\'s exports', notBuilt))('exports exactly ADDON_EXPORTS: none of the bench-only ones', () => {
    // Loaded here on its own, whichever byte path is active (SEGD_NATIVE=0 included): this is
    // about the file `npm run build:native` made.
    const module = { exports: {} as Record<string, unknown> };
    process.dlopen(module, built!);
    expect(Object.keys(module.exports).sort()).toEqual([...ADDON_EXPORTS].sort());
    for (const bench of BENCH_EXPORTS) expect(module.exports).not.toHaveProperty(bench);
  });
});
