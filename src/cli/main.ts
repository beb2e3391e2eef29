#!/usr/bin/env node
/** The segd command line: serve, index and verify, built on the library API. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_MAX_CONNECTIONS, startServer } from '../server/listen.js';
import { SegdError } from '../segd.js';
import { parseSize } from '../config/size.js';
import { parseDuration } from '../config/duration.js';
import { DEMO_DIR, PACKAGE_ROOT } from '../config/paths.js';
import { catalogueCommand, verifyCacheCommand } from './catalogue.js';
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

/** A parser of ours as a commander argument parser: its RangeError becomes commander's one-line error. */
function arg<T>(parse: (value: string) => T): (value: string) => T {
  return (value) => {
    try {
      return parse(value);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  };
}
const size = arg(parseSize);
const duration = arg(parseDuration);

const program = new Command()
  .name('segd')
  .description('Edge delivery engine for HLS: serves a folder of playlists and segments to players, fast and correct.')
  .version(version, '-v, --version')
  .showHelpAfterError('(run segd --help for usage)')
  .configureOutput({ writeErr: (s) => process.stderr.write(s.startsWith('error:') ? `segd: ${s}` : s) });

program
  .command('serve')
  .description('serve a directory of HLS content (without DIR: the bundled demo streams), or be an edge cache of an origin (--origin)')
  .argument('[dir]', 'content root (not with --origin)')
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--port <port>', 'port to listen on (0: any free port)', wholeNumber(0, 65535), 8080)
  .option('--tls-cert <file>', 'HTTPS on --port with this PEM certificate (chain after it), offering HTTP/2 and HTTP/1.1; re-read on SIGHUP and when it changes')
  .option('--tls-key <file>', "the certificate's PEM private key (mode 0600)")
  .option('--http-port <port>', 'with --tls-*: plain HTTP on this port as well', wholeNumber(0, 65535))
  .option('--hsts [seconds]', 'with --tls-*: send Strict-Transport-Security (default max-age: one year)', wholeNumber(0, 1_000_000_000))
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
  .option('--origin <url>', 'be an edge cache of this origin: http(s)://host[:port]/prefix or s3://bucket/prefix')
  .option('--cache-dir <dir>', "the edge's disk cache (created if missing)")
  .option('--cache-disk-size <size>', 'disk cache quota, e.g. 50GiB', size, 50 * 1024 ** 3)
  .option('--max-object-size <size>', 'objects larger than this are passed through, not stored (default: an eighth of the quota)', size)
  .option('--s3-endpoint <url>', 'S3-compatible store endpoint (MinIO, Ceph RGW, R2): path-style addressing unless --no-s3-path-style')
  .option('--s3-region <region>', 'S3 region (default: AWS_REGION, else us-east-1)')
  .option('--s3-path-style', 'address buckets by path (https://endpoint/bucket/key)')
  .option('--no-s3-path-style', 'address buckets by host name (https://bucket.endpoint/key)')
  .option('--stale-if-error <duration>', 'serve cached objects this long past their freshness while the origin fails, unless it says otherwise', duration, 86_400_000)
  .option('--negative-ttl <duration>', 'how long a 404/410 from the origin is remembered (0: not at all)', duration, 10_000)
  .option('--strip-query <names>', 'query parameters kept out of the cache key and the origin request besides CMCD, comma-separated (default: common token names)')
  .option('--origin-connections <n>', 'connections to the origin at most', wholeNumber(1, 100_000), 64)
  .option('--origin-timeout <duration>', 'time allowed for the origin to send headers, and between two body chunks', duration, 10_000)
  .action(async (dirArg: string | undefined, o: Record<string, unknown>) => {
    if (dirArg !== undefined && o.origin !== undefined) fail('serve either DIR or --origin URL, not both', 2);
    if ((o.tlsCert === undefined) !== (o.tlsKey === undefined)) fail('--tls-cert and --tls-key go together', 2);
    const dir = o.origin === undefined ? (dirArg ?? DEMO_DIR) : undefined;
    if (o.index && dir !== undefined) {
      const code = await catalogueCommand('index', dir, { out: () => undefined });
      if (code === EXIT_FAILURE) process.exit(code);
    }
    let running;
    try {
      running = await startServer({
        root: dir,
        origin: o.origin as string | undefined,
        cacheDir: o.cacheDir as string | undefined,
        cacheDiskSize: o.cacheDiskSize as number,
        maxObjectSize: o.maxObjectSize as number | undefined,
        s3Endpoint: o.s3Endpoint as string | undefined,
        s3Region: o.s3Region as string | undefined,
        s3PathStyle: o.s3PathStyle as boolean | undefined,
        staleIfError: (o.staleIfError as number) / 1000,
        negativeTtlMs: o.negativeTtl as number,
        stripQuery: typeof o.stripQuery === 'string' ? o.stripQuery.split(',').map((p) => p.trim()).filter((p) => p !== '') : undefined,
        originOptions: { connections: o.originConnections as number, headersTimeoutMs: o.originTimeout as number, bodyTimeoutMs: o.originTimeout as number },
        host: o.host as string,
        port: o.port as number,
        tls: o.tlsCert === undefined ? undefined : { cert: o.tlsCert as string, key: o.tlsKey as string },
        httpPort: o.httpPort as number | undefined,
        hstsMaxAge: o.hsts === true ? 31_536_000 : (o.hsts as number | undefined),
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
    const what = dir ?? `origin ${String(o.origin)}`;
    diag.info(`segd ${version} serving ${what} at ${url} (${running.segd.byteEngine})`, { root: dir, origin: o.origin, url, httpUrl: running.httpUrl, player: o.player ? `${url}player/` : undefined });
    // SIGHUP: the certificate and key are read again (a bad pair keeps the old one, logged).
    process.on('SIGHUP', () => void running.reloadTls());
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
