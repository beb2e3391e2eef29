/**
 * `segd serve` and `segd config --print`: one table of options, read from the command line and
 * from `--config FILE`, checked by one schema (config/serve-config.ts), flags over the file.
 */
import cluster from 'node:cluster';
import { setFlagsFromString } from 'node:v8';
import { availableParallelism } from 'node:os';
import { Command, Option } from 'commander';
import { FILLER_ENV, shareMetrics, Supervisor, WORKER_CONFIG_ENV, workerChannel, workerLink } from '../server/cluster.js';
import { DEFAULT_MAX_CONNECTIONS, startServer, type RunningServer, type ServerOptions } from '../server/listen.js';
import type { Diagnostics } from '../observe/log.js';
import { SegdError } from '../config/error.js';
import { diagnostics as stderrDiagnostics } from '../observe/log.js';
import { DEMO_DIR } from '../config/paths.js';
import { printable, readConfigFile, resolveServeConfig, SERVE_DEFAULTS, type ServeConfig, type ServeKey } from '../config/serve-config.js';
import { catalogueCommand } from './catalogue.js';
import { EXIT_FAILURE } from '../catalogue/report.js';

/** Each option: its key in the schema, its flags, its help (the default is added from the schema). */
const OPTIONS: readonly (readonly [key: ServeKey, flags: string, help: string])[] = [
  ['host', '--host <host>', 'address to listen on'],
  ['port', '--port <port>', 'port to listen on (0: any free port); HTTPS with --tls-*'],
  ['tlsCert', '--tls-cert <file>', 'HTTPS on --port with this PEM certificate (chain after it), offering HTTP/2 and HTTP/1.1; re-read on SIGHUP and when it changes'],
  ['tlsKey', '--tls-key <file>', "the certificate's PEM private key (mode 0600)"],
  ['httpPort', '--http-port <port>', 'with --tls-*: plain HTTP on this port as well'],
  ['hsts', '--hsts [seconds]', 'with --tls-*: send Strict-Transport-Security (max-age: one year unless given)'],
  ['cacheSize', '--cache-size <size>', 'hot cache size, e.g. 512MiB or 2GiB'],
  ['threads', '--threads <n>', 'pool threads for the cold path, per worker (default: cores - 1, at least 4; with workers: cores / workers)'],
  ['workers', '--workers <n|auto>', 'processes sharing the port, auto: one per core (default: auto with --tls-* or --origin, else 1); with --origin the primary fetches and stores for all of them'],
  ['corsOrigin', '--cors-origin <origins>', "allowed origins, comma-separated, or '*'"],
  ['validity', '--validity <ms>', 'how long a file stat is trusted before it is checked again'],
  ['liveMaxAge', '--live-max-age <fraction>', 'live playlist max-age as a fraction of the target duration'],
  ['maxConnections', '--max-connections <n>', `concurrent connection cap (default ${DEFAULT_MAX_CONNECTIONS}, lowered to fit the open-file limit)`],
  ['maxConnectionsPerAddress', '--max-connections-per-address <n>', 'connections one client address (IPv6: one /64) may hold; 0: no limit (default: a tenth of the cap)'],
  ['followSymlinks', '--follow-symlinks', 'serve symlinks that lead outside the root'],
  ['player', '--no-player', 'do not serve the test page at /player/'],
  ['log', '--log', 'JSON access log (pino) on stdout'],
  ['index', '--index', 'run `segd index` on DIR before serving (incremental)'],
  ['verify', '--no-verify', "take the manifest's checksums on trust instead of checking files as they enter the cache"],
  ['grace', '--grace <ms>', 'how long in-flight responses may take on shutdown'],
  ['origin', '--origin <url>', 'be an edge cache of this origin: http(s)://host[:port]/prefix or s3://bucket/prefix'],
  ['cacheDir', '--cache-dir <dir>', "the edge's disk cache (created if missing)"],
  ['cacheDiskSize', '--cache-disk-size <size>', 'disk cache quota, e.g. 50GiB'],
  ['maxObjectSize', '--max-object-size <size>', 'objects larger than this are passed through, not stored (default: an eighth of the quota)'],
  ['s3Endpoint', '--s3-endpoint <url>', 'S3-compatible store endpoint (MinIO, Ceph RGW, R2): path-style addressing unless --no-s3-path-style'],
  ['s3Region', '--s3-region <region>', 'S3 region (default: AWS_REGION, else us-east-1)'],
  ['s3PathStyle', '--s3-path-style', 'address buckets by path (https://endpoint/bucket/key)'],
  ['s3PathStyle', '--no-s3-path-style', 'address buckets by host name (https://bucket.endpoint/key)'],
  ['staleIfError', '--stale-if-error <duration>', 'serve cached objects this long past their freshness while the origin fails, unless it says otherwise'],
  ['negativeTtl', '--negative-ttl <duration>', 'how long a 404/410 from the origin is remembered (0: not at all)'],
  ['stripQuery', '--strip-query <names>', 'query parameters kept out of the cache key and the origin request besides CMCD, comma-separated (default: common token names)'],
  ['originConnections', '--origin-connections <n>', 'connections to the origin at most'],
  ['originTimeout', '--origin-timeout <duration>', 'time allowed for the origin to send headers, and between two body chunks'],
];

/** What the help shows as a default: the schema's, in the flags' own terms. */
function shownDefault(key: ServeKey): string | undefined {
  const v = SERVE_DEFAULTS[key];
  if (v === undefined || typeof v === 'boolean') return undefined;
  if (['cacheSize', 'cacheDiskSize'].includes(key)) return `${Number(v) / 1024 ** 2}MiB`;
  if (['staleIfError', 'negativeTtl', 'originTimeout'].includes(key)) return `${Number(v) / 1000}s`;
  return Array.isArray(v) ? v.join(',') : String(v);
}

function withServeOptions(cmd: Command): Command {
  cmd.option('--config <file>', 'settings from this JSON file (keys: the flags in camelCase); flags override it');
  for (const [key, flags, help] of OPTIONS) {
    const d = flags.startsWith('--no-') ? undefined : shownDefault(key);
    cmd.addOption(new Option(flags, d === undefined ? help : `${help} (default: ${d})`));
  }
  return cmd;
}

/** The effective configuration: defaults, the file, then what the command line gave explicitly. */
function effective(cmd: Command, dirArg: string | undefined): ServeConfig {
  const o = cmd.opts<Record<string, unknown>>();
  const flags: Record<string, unknown> = {};
  for (const key of new Set(OPTIONS.map(([k]) => k))) if (cmd.getOptionValueSource(key) === 'cli') flags[key] = o[key];
  if (dirArg !== undefined) flags.dir = dirArg;
  const file = typeof o.config === 'string' ? { path: o.config, values: readConfigFile(o.config) } : undefined;
  return resolveServeConfig(file, flags);
}

/** The server's options from a configuration; the CLI's own rules about which go together. */
export function serverOptions(c: ServeConfig): ServerOptions & { root: string | undefined } {
  if (c.dir !== undefined && c.origin !== undefined) throw new SegdError('serve either DIR or --origin URL, not both', 'ESEGDOPTION');
  if ((c.tlsCert === undefined) !== (c.tlsKey === undefined)) throw new SegdError('--tls-cert and --tls-key go together', 'ESEGDOPTION');
  return {
    root: c.origin === undefined ? (c.dir ?? DEMO_DIR) : undefined,
    origin: c.origin,
    cacheDir: c.cacheDir,
    cacheDiskSize: c.cacheDiskSize,
    maxObjectSize: c.maxObjectSize,
    s3Endpoint: c.s3Endpoint,
    s3Region: c.s3Region,
    s3PathStyle: c.s3PathStyle,
    staleIfError: c.staleIfError / 1000,
    negativeTtlMs: c.negativeTtl,
    stripQuery: c.stripQuery,
    originOptions: { connections: c.originConnections, headersTimeoutMs: c.originTimeout, bodyTimeoutMs: c.originTimeout },
    host: c.host,
    port: c.port,
    tls: c.tlsCert === undefined || c.tlsKey === undefined ? undefined : { cert: c.tlsCert, key: c.tlsKey },
    httpPort: c.httpPort,
    hstsMaxAge: c.hsts === true ? 31_536_000 : c.hsts === false ? undefined : c.hsts,
    cacheSize: c.cacheSize,
    threads: c.threads,
    corsOrigin: c.corsOrigin,
    validityMs: c.validity,
    liveMaxAgeFraction: c.liveMaxAge,
    maxConnections: c.maxConnections,
    maxConnectionsPerAddress: c.maxConnectionsPerAddress,
    followSymlinks: c.followSymlinks,
    player: c.player,
    log: c.log,
    verify: c.verify,
  };
}

/** How many worker processes a configuration asks for (1: no primary, today's single process). */
export function workerCount(c: ServeConfig): number {
  if (c.workers === 'auto' || (c.workers === undefined && (c.tlsCert !== undefined || c.origin !== undefined))) return availableParallelism();
  return c.workers ?? 1;
}

/**
 * What the filler of an edge group owns (src/store/disk/shared.ts): set when the group starts.
 * Workers must key and find objects as the filler stores them, so a reload keeps these.
 */
const FILLER_KEYS = ['origin', 'cacheDir', 'cacheDiskSize', 'maxObjectSize', 's3Endpoint', 's3Region', 's3PathStyle', 'staleIfError', 'negativeTtl', 'stripQuery', 'originConnections', 'originTimeout'] as const satisfies readonly ServeKey[];
/** The filler's memory tier: it answers misses and revalidations; the workers answer the hits. */
const FILLER_CACHE = '64MiB';

/** The edge group's filler, in the primary: a whole edge on a loopback port that only the workers use. */
async function startFiller(config: ServeConfig, sup: Supervisor, diag: Diagnostics): Promise<RunningServer> {
  const running = await startServer({
    ...serverOptions(config),
    host: '127.0.0.1',
    port: 0,
    tls: undefined,
    httpPort: undefined,
    hstsMaxAge: undefined,
    player: false,
    log: false,
    threads: 1,
    cacheSize: FILLER_CACHE,
    maxConnectionsPerAddress: 0, // every worker connects from 127.0.0.1
    group: sup.fillerLink(),
    diagnostics: diag,
  });
  sup.addMetrics(running.segd.metrics.registry, 'filler');
  return running;
}

/** `next` with the filler's keys of `current`, and a warning when a reload asked to change them. */
function keepFillerKeys(current: ServeConfig, next: ServeConfig, diag: Diagnostics): ServeConfig {
  const changed = FILLER_KEYS.filter((k) => JSON.stringify(current[k]) !== JSON.stringify(next[k]));
  if (changed.length > 0) diag.warn('reload: the origin and disk cache settings take effect at the next restart', { keys: changed.join(',') });
  const kept: Record<string, unknown> = { ...next };
  for (const k of FILLER_KEYS) kept[k] = current[k];
  return kept as ServeConfig;
}

/** A worker's configuration: the primary's, resolved once there, with the pool sized so workers × threads is about the core count. */
function forWorkers(c: ServeConfig, workers: number): string {
  return JSON.stringify(printable({ ...c, index: false, threads: c.threads ?? Math.max(1, Math.floor(availableParallelism() / workers)) }));
}

/**
 * A serving process keeps a small live heap (about 25 MB) and allocates fast: request state, and
 * body buffers that outlive a scavenge while they are written out. V8 set the next full
 * collection's limit at about twice the live heap, so under a fill-heavy load it marked the whole
 * heap several times a second. A growing factor of 4 costs a few tens of MB and cut bench/edge.ts's
 * fill from 67-75 full collections to 13, and 10-15% of its CPU per GB. V8 reads the flag at each
 * collection, so setting it after start works.
 */
function roomToGrow(): void {
  setFlagsFromString('--heap-growing-percent=300');
}

export function addServeCommands(program: Command, version: string, fail: (message: string, code?: number) => never): void {
  /** Runs `f`; a SegdError (a bad flag, key or pairing) is one line on stderr and exit 2. */
  const orExit = <T>(f: () => T): T => {
    try {
      return f();
    } catch (err) {
      if (err instanceof SegdError) fail(err.message, 2);
      throw err;
    }
  };

  withServeOptions(
    program
      .command('serve')
      .description('serve a directory of HLS content (without DIR: the bundled demo streams), or be an edge cache of an origin (--origin)')
      .argument('[dir]', 'content root (not with --origin)'),
  ).action(async (dirArg: string | undefined, _o: unknown, cmd: Command) => {
    roomToGrow();
    const fromPrimary = cluster.isWorker ? process.env[WORKER_CONFIG_ENV] : undefined;
    const { config, options, workers } = orExit(() => {
      const c = fromPrimary === undefined ? effective(cmd, dirArg) : resolveServeConfig({ path: 'the primary', values: JSON.parse(fromPrimary) as Record<string, unknown> }, {});
      const filler = fromPrimary === undefined ? undefined : process.env[FILLER_ENV];
      return { config: c, options: { ...serverOptions(c), group: filler === undefined ? undefined : workerLink(filler) }, workers: fromPrimary === undefined ? workerCount(c) : 1 };
    });
    const dir = options.root;
    if (config.index && dir !== undefined) {
      const code = await catalogueCommand('index', dir, { out: () => undefined });
      if (code === EXIT_FAILURE) process.exit(code);
    }
    if (workers > 1) return supervise(cmd, dirArg, config, workers);
    let running;
    try {
      running = await startServer(options);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e instanceof SegdError) fail(e.message, 2);
      if (e.code === 'EADDRINUSE') fail(`port ${config.port} on ${config.host} is already in use`);
      if (e.code === 'EACCES') fail(`not allowed to listen on ${config.host}:${config.port}`);
      if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND') fail(`cannot listen on address ${config.host}`);
      throw err;
    }
    const url = running.url;
    const diag = running.segd.diagnostics;
    let stopping = false;
    let farewell = (): Promise<void> => Promise.resolve();
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      diag.info(`${signal}: finishing in-flight responses`, { signal, graceMs: config.grace, pid: process.pid });
      running
        .close(config.grace)
        .then(() => farewell())
        .then(
          () => process.exit(0),
          (err: unknown) => fail(`shutdown failed: ${String(err)}`),
        );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    if (cluster.isWorker) {
      // The primary reloads (a new generation of workers) and tells this one when to drain.
      process.on('SIGHUP', () => undefined);
      shareMetrics(running.segd.metrics.registry, cluster.worker!.id);
      const channel = workerChannel({ url, httpUrl: running.httpUrl, drain: () => stop('drain') });
      running.segd.metrics.group = channel.groupMetrics;
      farewell = channel.farewell;
      return;
    }
    // SIGHUP: the certificate and key are read again (a bad pair keeps the old one, logged).
    // Installed before the line below: whoever waits for it may signal at once, and an
    // unhandled SIGHUP kills the process.
    process.on('SIGHUP', () => void running.reloadTls());
    const what = dir ?? `origin ${String(config.origin)}`;
    diag.info(`segd ${version} serving ${what} at ${url} (${running.segd.byteEngine})`, { root: dir, origin: config.origin, url, httpUrl: running.httpUrl, player: config.player ? `${url}player/` : undefined });
  });

  /** The primary of `workers` processes: starts them, reloads them on SIGHUP, drains them on SIGTERM. */
  async function supervise(cmd: Command, dirArg: string | undefined, config: ServeConfig, workers: number): Promise<void> {
    const diag = stderrDiagnostics();
    const sup = new Supervisor(workers, diag);
    let filler: RunningServer | undefined;
    try {
      filler = config.origin === undefined ? undefined : await startFiller(config, sup, diag);
    } catch (err) {
      if (err instanceof SegdError) fail(err.message, 2);
      fail(`the edge's filler did not start: ${(err as Error).message}`);
    }
    try {
      await sup.start(forWorkers(config, workers), filler === undefined ? {} : { [FILLER_ENV]: new URL(filler.url).origin });
    } catch (err) {
      await sup.stop();
      await filler?.close(0);
      fail(`the workers did not start: ${(err as Error).message} (their own lines above say why)`);
    }
    let stopping = false;
    process.on('SIGHUP', () => {
      if (stopping) return;
      let next: ServeConfig;
      try {
        next = effective(cmd, dirArg);
        serverOptions(next);
        if (filler !== undefined) next = keepFillerKeys(config, next, diag);
      } catch (err) {
        diag.error('reload refused: the configuration is not valid; the workers keep the old one', { reason: (err as Error).message });
        return;
      }
      void sup.reload(forWorkers(next, workers));
    });
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      diag.info(`${signal}: the workers finish their in-flight responses`, { signal, graceMs: config.grace });
      void sup
        .stop()
        .then(() => filler?.close(config.grace))
        .then(() => process.exit(0));
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    // Only now that every signal has its handler: whoever waits for this line may signal at once.
    const dir = config.origin === undefined ? (config.dir ?? DEMO_DIR) : undefined;
    diag.info(`segd ${version} serving ${dir ?? `origin ${String(config.origin)}`} at ${sup.url} with ${workers} workers`, { root: dir, url: sup.url, httpUrl: sup.httpUrl, workers, pid: process.pid });
  }

  withServeOptions(
    program
      .command('config')
      .description("check serve's configuration (--config FILE and flags) and, with --print, show the effective one as JSON")
      .argument('[dir]', 'content root, as for serve')
      .option('--print', 'print the effective configuration'),
  ).action((dirArg: string | undefined, o: { print?: boolean }, cmd: Command) => {
    const config = orExit(() => {
      const c = effective(cmd, dirArg);
      serverOptions(c); // its pairing rules too: what serve would refuse, config refuses
      return c;
    });
    if (o.print) process.stdout.write(`${JSON.stringify(printable(config), null, 2)}\n`);
  });
}
