// Builds the addon with @napi-rs/cli. Without a Rust toolchain the build is skipped with a
// warning and segd runs on its TypeScript byte path, unless SEGD_NATIVE=1 demands the addon.
import { spawnSync } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const required = process.env.SEGD_NATIVE === '1';

if (spawnSync('cargo', ['--version'], { stdio: 'ignore' }).status !== 0) {
  const msg = 'segd: cargo not found; the native addon was not built (segd will use its TypeScript byte path)';
  if (required) {
    console.error(`${msg}, but SEGD_NATIVE=1 requires it`);
    process.exit(1);
  }
  console.warn(msg);
  process.exit(0);
}
const napi = spawnSync('npx', ['napi', 'build', '--platform', '--release', '--output-dir', '.'], { cwd: here, stdio: 'inherit' });
process.exit(napi.status ?? 1);
