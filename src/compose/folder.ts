/**
 * The folder store (a content root, and the player's page) composed from options, with its
 * events wired to metrics and diagnostics.
 */
import type { CachePolicy } from '../http/cache-control.js';
import { crcHex } from '../http/etag.js';
import type { Metrics } from '../observe/metrics.js';
import type { Diagnostics } from '../observe/log.js';
import type { LoadPool } from '../pool/load-pool.js';
import type { ServedManifest } from '../catalogue/served.js';
import { FileStore } from '../store/folder.js';
import { describe, type Representation } from '../serve/representation.js';

export interface FolderDeps {
  readonly pool: LoadPool;
  readonly metrics: Metrics;
  readonly diag: Diagnostics;
  readonly cachePolicy: CachePolicy;
  readonly staticCors: readonly string[];
  readonly manifest: ServedManifest | undefined;
  readonly maxBytes: number;
  readonly validityMs: number;
  readonly verify: boolean;
  /** Files served with `no-cache` whatever they are (the player's own, which change with segd releases). */
  readonly alwaysRevalidate: (file: string) => boolean;
}

export function createFolderStore(d: FolderDeps): FileStore<Representation> {
  const { metrics, diag, manifest } = d;
  const store = new FileStore<Representation>({
    maxBytes: d.maxBytes,
    validityMs: d.validityMs,
    pool: d.pool,
    expected: (file) => manifest?.expected(file),
    verify: d.verify,
    describe: (f) =>
      describe(f, {
        cachePolicy: d.cachePolicy,
        corsHeaders: d.staticCors,
        cacheControl: d.alwaysRevalidate(f.file) ? 'no-cache' : undefined,
        reprDigest: manifest?.reprDigest(f.file, f.size, f.mtimeMs, f.crc32c),
      }),
    events: {
      hit: (tier) => metrics.hit(tier),
      miss: () => metrics.cacheMisses.inc(),
      evict: () => metrics.cacheEvictions.inc(),
      rewarm: () => metrics.cacheRewarms.inc(),
      truncated: (file) => truncatedUnderMapping(diag, file),
      promote: () => metrics.cachePromotions.inc(),
      diskRead: (direct) => metrics.diskRead(direct),
      changedUnderRead: (file) => {
        metrics.changedUnderRead.inc();
        diag.limited('warn', `changed:${file}`, 'file changed while read (written in place, not replaced by a rename): the response was cut short, the file is reloaded on the next request', {
          file,
          code: 'ESEGDCHANGED',
        });
      },
      corrupt: (file, expected, actual) => {
        metrics.integrityFailures.inc();
        diag.limited('error', `corrupt:${file}`, 'integrity check failed, file refused until it changes', {
          file,
          reason: 'checksum differs from the manifest',
          crc32c: crcHex(actual),
          manifest: crcHex(expected),
        });
      },
      unreadable: (file, err) => diag.limited('error', `unreadable:${file}`, 'cannot read file', { file, code: err.code, reason: err.message }),
      malformedPlaylist: (file, problem) => diag.limited('warn', `playlist:${file}`, 'malformed playlist, served as it is', { file, reason: problem }),
    },
  });
  if (manifest !== undefined) manifest.onChange = () => store.redescribe();
  return store;
}

/** A cached object's file shrank under its mapping: someone writes served files in place. */
export function truncatedUnderMapping(diag: Diagnostics, file: string): void {
  diag.limited('warn', `truncated:${file}`, 'file truncated while mapped (written in place, not replaced by a rename): dropped from the cache, reloaded on the next request', {
    file,
    code: 'ESEGDPOISONED',
  });
}
