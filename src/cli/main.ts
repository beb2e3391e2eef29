#!/usr/bin/env node
/** The segd command line: serve (and config), index and verify, built on the library API. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { PACKAGE_ROOT } from '../config/paths.js';
import { catalogueCommand, verifyCacheCommand } from './catalogue.js';
import { addServeCommands } from './serve.js';

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

const program = new Command()
  .name('segd')
  .description('Edge delivery engine for HLS: serves a folder of playlists and segments to players, fast and correct.')
  .version(version, '-v, --version')
  .showHelpAfterError('(run segd --help for usage)')
  .configureOutput({ writeErr: (s) => process.stderr.write(s.startsWith('error:') ? `segd: ${s}` : s) });

addServeCommands(program, version, fail);

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
  .description("re-read every file and report each one whose bytes no longer match the manifest; with --cache-dir, every object of an edge's disk cache")
  .argument('[dir]', 'content root')
  .option('--cache-dir <dir>', "check an edge's disk cache instead of a content root")
  .option('--json', 'machine-readable report on stdout', false)
  .option('--sha256', 'check SHA-256 as well as CRC32C', false)
  .option('--threads <n>', 'worker threads (default: all cores)', wholeNumber(1, 1024))
  .action(async (dir: string | undefined, o: { json: boolean; sha256: boolean; threads?: number; cacheDir?: string }) => {
    if ((dir === undefined) === (o.cacheDir === undefined)) fail('verify either DIR or --cache-dir DIR', 2);
    if (o.cacheDir !== undefined) {
      process.exitCode = verifyCacheCommand(o.cacheDir, o.json);
      return;
    }
    process.exitCode = await catalogueCommand('verify', dir!, { json: o.json, sha256: o.sha256, threads: o.threads });
  });

await program.parseAsync(process.argv);
