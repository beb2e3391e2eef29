/**
 * The request path for a file of a folder (the content root, or a mount such as the player
 * page): the folder store's answer, then the response: a ready object through respond.ts, a
 * refusal through the error table.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { contentKindFor } from '../http/content-type.js';
import type { FileStore, Mount, Outcome } from '../store/folder.js';
import type { Representation } from './representation.js';
import { respond, type RespondContext } from './respond.js';
import { sendError, type ErrorName } from './errors.js';

export interface ContentMount extends Mount {
  readonly root: string;
}

/** The answer to each way the store can refuse a file. */
const REFUSALS: Record<Exclude<Outcome<Representation>['kind'], 'found'>, ErrorName> = {
  missing: 'notFound',
  corrupt: 'integrity',
  forbidden: 'forbidden',
  failed: 'internal',
};

export interface FolderServeContext extends RespondContext {
  readonly store: FileStore<Representation>;
  corsOf(req: IncomingMessage): readonly string[];
}

/** Serves `rel` (normalised: no dot or empty segments) of `mount`; rejects only on a bug. */
export function folderContent(ctx: FolderServeContext): (req: IncomingMessage, res: ServerResponse, mount: ContentMount, rel: string) => void | Promise<void> {
  const names = new FileNames();
  return (req, res, mount, rel) => {
    const file = names.of(mount, rel);
    const hot = ctx.store.hot(file);
    if (hot !== undefined) return respond(req, res, hot, ctx);
    return ctx.store.fetch(file, mount).then((outcome) => {
      if (outcome.kind === 'found') return respond(req, res, outcome.entry, ctx);
      ctx.metrics.request(sendError(res, REFUSALS[outcome.kind], ctx.corsOf(req)), contentKindFor(file));
    });
  };
}

/** Names kept per mount; past this many, the mount's are dropped and made again as asked. */
const MAX_NAMES = 16_384;

/**
 * The file names of the paths asked lately. A name made afresh for each request is a string the
 * store's maps must flatten and hash at every lookup (about 0.3 µs for a 70-character root); a
 * kept one has its hash already. Bounded, so a flood of distinct paths cannot grow it.
 */
export class FileNames {
  private readonly byMount = new WeakMap<ContentMount, Map<string, string>>();

  constructor(private readonly max = MAX_NAMES) {}

  /** `rel` is already normalised, so plain concatenation is exact ('' names the root, a directory: refused like any). */
  of(mount: ContentMount, rel: string): string {
    let names = this.byMount.get(mount);
    if (names === undefined) this.byMount.set(mount, (names = new Map()));
    let file = names.get(rel);
    if (file === undefined) {
      if (names.size >= this.max) names.clear();
      file = `${mount.root}/${rel}`;
      names.set(rel, file);
    }
    return file;
  }

  /** Names kept for `mount`. */
  size(mount: ContentMount): number {
    return this.byMount.get(mount)?.size ?? 0;
  }
}
