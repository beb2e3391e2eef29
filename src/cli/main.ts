#!/usr/bin/env node
/** The segd command line: serve, index and verify, built on the library API. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_MAX_CONNECTIONS, startServer } from '../server/listen.js';
import { SegdError } from '../segd.js';
import { parseSize } from '../config/size.js';
import { DEMO_DIR, PACKAGE_ROOT } from '../config/paths.js';
import { catalogueCommand } from './catalogue.js';
import { EXIT_FAILURE } from '../catalogue/report.js';

const version = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

function fail(message: string, code = 1): never {
  process.stderr.write(`segd: ${message}\n`);
  process.exit(code);
}

function wholeNumber(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || n < min || n > max) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    return n;
  };
}

function size(value: string): number {
  try {
    return parseSize(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

const program = new Command()
  .name('segd')
  .description('Edge delivery engine for HLS: serves a folder of playlists and segments to players, fast and correct.')
  .version(version, '-v, --version')
  .showHelpAfterError('(run segd --help for usage)')
  .configureOutput({ writeErr: (s) => process.stderr.write(s.startsWith('error:') ? `segd: ${s}` : s) });

program
  .command('serve')
  .description('serve a directory of HLS content (without DIR: the bundled demo streams)')
  .argument('[dir]', 'content root', DEMO_DIR)
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--port <port>', 'port to listen on (0: any free port)', wholeNumber(0, 65535), 8080)
  .option('--cache-size <size>', 'hot cache size, e.g. 512MiB or 2GiB', size, 512 * 1024 ** 2)
  .option('--threads <n>', 'worker threads for the cold path (default: cores - 1, at least 1)', wholeNumber(1, 1024))
  .option('--cors-origin <origins>', "allowed origins, comma-separated, or '*'", '*')
  .option('--validity <ms>', 'how long a file stat is trusted before it is checked again', wholeNumber(0, 3_600_000), 1000)
  .option('--live-max-age <fraction>', 'live playlist max-age as a fraction of the target duration', (v) => {
    const n = Number(v);
    if (!(n >= 0 && n <= 10)) throw new InvalidArgumentError('expected a number from 0 to 10');
    return n;
  }, 0.5)
  .option('--max-connections <n>', `concurrent connection cap (default ${DEFAULT_MAX_CONNECTIONS}, lowered to fit the open-file limit)`, wholeNumber(1, 1_000_000))
  .option('--max-connections-per-address <n>', 'connections one client address (IPv6: one /64) may hold; 0: no limit (default: a tenth of the cap)', wholeNumber(0, 1_000_000))
  .option('--follow-symlinks', 'serve symlinks that lead outside the root', false)
  .option('--no-player', 'do not serve the test page at /player/')
  .option('--log', 'JSON access log (pino) on stdout', false)
  .option('--index', 'run `segd index` on DIR before serving (incremental)', false)
  .option('--no-verify', "take the manifest's checksums on trust instead of checking files as they enter the cache")
  .addOption(new Option('--grace <ms>', 'how long in-flight responses may take on shutdown').argParser(wholeNumber(0, 600_000)).default(10_000))
  .action(async (dir: string, o: Record<string, unknown>) => {
    if (o.index) {
      const code = await catalogueCommand('index', dir, { out: () => undefined });
      if (code === EXIT_FAILURE) process.exit(code);
    }
    let running;
    try {
      running = await startServer({
        root: dir,
        host: o.host as string,
        port: o.port as number,
        cacheSize: o.cacheSize as number,
        threads: o.threads as number | undefined,
        corsOrigin: o.corsOrigin as string,
        validityMs: o.validity as number,
        liveMaxAgeFraction: o.liveMaxAge as number,
        maxConnections: o.maxConnections as number | undefined,
        maxConnectionsPerAddress: o.maxConnectionsPerAddress as number | undefined,
        followSymlinks: o.followSymlinks as boolean,
        player: o.player as boolean,
        log: o.log as boolean,
        verify: o.verify as boolean,
      });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e instanceof SegdError) fail(e.message, 2);
      if (e.code === 'EADDRINUSE') fail(`port ${String(o.port)} on ${String(o.host)} is already in use`);
      if (e.code === 'EACCES') fail(`not allowed to listen on ${String(o.host)}:${String(o.port)}`);
      if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND') fail(`cannot listen on address ${String(o.host)}`);
      throw err;
    }
    const url = running.url;
    const diag = running.segd.diagnostics;
    diag.info(`segd ${version} serving ${dir} at ${url} (${running.segd.byteEngine})`, { root: dir, url, player: o.player ? `${url}player/` : undefined });
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      diag.info(`${signal}: finishing in-flight responses`, { signal, graceMs: o.grace });
      running.close(o.grace as number).then(
        () => process.exit(0),
        (err: unknown) => fail(`shutdown failed: ${String(err)}`),
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });

program
  .command('index')
  .description('validate every playlist, checksum every file (CRC32C, SHA-256), write DIR/.segd/manifest.json')
  .argument('<dir>', 'content root')
  .option('--json', 'machine-readable report on stdout', false)
  .option('--threads <n>', 'worker threads (default: all cores)', wholeNumber(1, 1024))
  .action(async (dir: string, o: { json: boolean; threads?: number }) => {
    process.exitCode = await catalogueCommand('index', dir, { json: o.json, threads: o.threads });
  });

program
  .command('verify')
  .description("re-read every file and report each one whose bytes no longer match the manifest")
  .argument('<dir>', 'content root')
  .option('--json', 'machine-readable report on stdout', false)
  .option('--sha256', 'check SHA-256 as well as CRC32C', false)
  .option('--threads <n>', 'worker threads (default: all cores)', wholeNumber(1, 1024))
  .action(async (dir: string, o: { json: boolean; sha256: boolean; threads?: number }) => {
    process.exitCode = await catalogueCommand('verify', dir, { json: o.json, sha256: o.sha256, threads: o.threads });
  });

await program.parseAsync(process.argv);
