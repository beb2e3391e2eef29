// Builds the addon with @napi-rs/cli. Without a Rust toolchain the build is skipped with a
// warning and segd runs on its TypeScript byte path, unless SEGD_NATIVE=1 demands the addon.
//
// `node native/build.mjs --bench` builds the variant with the bench-only exports instead
// (`cargo build --features bench`, see Cargo.toml) into native/target/bench/, apart from the
// default build, and prints its path on stdout: bench/native.ts and test/native-bench.test.ts
// load it through SEGD_NATIVE_PATH. It never replaces native/segd.<platform>.node.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const required = process.env.SEGD_NATIVE === '1';
const bench = process.argv.includes('--bench');

if (spawnSync('cargo', ['--version'], { stdio: 'ignore' }).status !== 0) {
  const msg = 'segd: cargo not found; the native addon was not built (segd will use its TypeScript byte path)';
  if (required) {
    console.error(`${msg}, but SEGD_NATIVE=1 requires it`);
    process.exit(1);
  }
  console.warn(msg);
  process.exit(bench ? 1 : 0);
}
if (bench) {
  // Progress goes to stderr, so stdout carries nothing but the path.
  const cargo = spawnSync('cargo', ['build', '--release', '--features', 'bench', '--target-dir', 'target/bench'], { cwd: here, stdio: ['ignore', 2, 2] });
  if (cargo.status === 0) console.log(join(here, 'target', 'bench', 'release', 'libsegd_native.so'));
  process.exit(cargo.status ?? 1);
}
const napi = spawnSync('npx', ['napi', 'build', '--platform', '--release', '--output-dir', '.'], { cwd: here, stdio: 'inherit' });
process.exit(napi.status ?? 1);
