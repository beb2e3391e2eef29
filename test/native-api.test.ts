// The addon's surface: which file is looked for on which platform.
import { describe, expect, it } from 'vitest';
import { addonFileName } from '../src/native/index.js';

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
