// The file names the folder path keeps per mount (src/serve/folder.ts): exact, per mount, bounded.
import { describe, expect, it } from 'vitest';
import { FileNames, type ContentMount } from '../src/serve/folder.js';

const mount = (root: string): ContentMount => ({ root, realRoot: root, followSymlinks: false });

describe('FileNames', () => {
  it('names a path under its own mount, the same for the same path', () => {
    const names = new FileNames();
    const a = mount('/srv/a');
    const b = mount('/srv/b');
    expect(names.of(a, 'seg/1.ts')).toBe('/srv/a/seg/1.ts');
    expect(names.of(b, 'seg/1.ts')).toBe('/srv/b/seg/1.ts');
    expect(names.of(a, 'seg/1.ts')).toBe('/srv/a/seg/1.ts');
    expect(names.of(a, '')).toBe('/srv/a/');
    expect([names.size(a), names.size(b)]).toEqual([2, 1]);
  });

  it('a flood of distinct paths is bounded: past the limit the mount starts over', () => {
    const names = new FileNames(100);
    const a = mount('/srv/a');
    const sizes: number[] = [];
    for (let i = 0; i < 1000; i++) {
      expect(names.of(a, `x/${i}`)).toBe(`/srv/a/x/${i}`);
      sizes.push(names.size(a));
    }
    expect(Math.max(...sizes)).toBe(100);
    expect(sizes[100]).toBe(1); // the 101st name found the mount full and started it over
  });
});
