/** Where segd's own files live, whether it runs from src/ (tsx, vitest) or from dist/src/. */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('segd: cannot find its package root');
    dir = up;
  }
  return dir;
}

export const PACKAGE_ROOT = packageRoot();
export const DEMO_DIR = join(PACKAGE_ROOT, 'demo');
export const WEB_DIR = join(PACKAGE_ROOT, 'web');

/** hls.js's browser builds, served to the player page from node_modules (no CDN). */
export function hlsJsDir(): string {
  return dirname(createRequire(import.meta.url).resolve('hls.js/dist/hls.min.js'));
}
