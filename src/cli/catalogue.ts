/**
 * Glue for the CLI: run `segd index DIR` / `segd verify DIR`, print the report (human or
 * `--json`) and return the exit code (0 ok, 1 errors/mismatches, 2 could not run).
 * The lead's src/cli.ts can call this from its commander actions.
 */
import { indexTree } from '../catalogue/indexer.js';
import {
  describeFailure,
  exitCodeForFailure,
  exitCodeForIndex,
  exitCodeForVerify,
  formatIndexReport,
  formatVerifyReport,
  indexReportJson,
  verifyReportJson,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_PROBLEMS,
} from '../catalogue/report.js';
import { verifyTree } from '../catalogue/verify.js';
import { verifyCacheDir } from '../store/disk/verify.js';

export interface CatalogueCommandOptions {
  json?: boolean;
  threads?: number;
  /** verify only: also check SHA-256. */
  sha256?: boolean;
  /** Progress bar on stderr when it is a TTY (default true; never with json). */
  progress?: boolean;
  out?: (s: string) => void;
  err?: (s: string) => void;
}

export async function catalogueCommand(cmd: 'index' | 'verify', dir: string, o: CatalogueCommandOptions = {}): Promise<number> {
  const out = o.out ?? ((s: string) => void process.stdout.write(s));
  const err = o.err ?? ((s: string) => void process.stderr.write(s));
  const common = {
    ...(o.threads !== undefined ? { threads: o.threads } : {}),
    progress: o.json ? false : (o.progress ?? true),
    log: (line: string) => err(`${line}\n`),
  };
  try {
    if (cmd === 'index') {
      const r = await indexTree(dir, common);
      out(o.json ? JSON.stringify(indexReportJson(r), null, 2) + '\n' : formatIndexReport(r));
      return exitCodeForIndex(r);
    }
    const r = await verifyTree(dir, { ...common, sha256: Boolean(o.sha256) });
    out(o.json ? JSON.stringify(verifyReportJson(r), null, 2) + '\n' : formatVerifyReport(r));
    return exitCodeForVerify(r);
  } catch (e) {
    if (o.json) out(JSON.stringify({ command: cmd, ok: false, fatal: describeFailure(e) }) + '\n');
    else err(`${describeFailure(e)}\n`);
    return exitCodeForFailure(e);
  }
}

/** `segd verify --cache-dir DIR`: one line per bad object (or JSON), exit 1 when any. */
export function verifyCacheCommand(dir: string, json: boolean, out: (s: string) => void = (s) => void process.stdout.write(s)): number {
  let r;
  try {
    r = verifyCacheDir(dir);
  } catch (err) {
    process.stderr.write(`segd: cannot read the cache directory ${dir}: ${(err as Error).message}\n`);
    return EXIT_FAILURE;
  }
  if (json) out(JSON.stringify(r, null, 2) + '\n');
  else {
    for (const p of r.problems) out(`BAD ${p.key ?? '(unknown key)'} ${p.file}: ${p.problem}\n`);
    out(`${r.objects} objects, ${r.bytes} bytes, ${r.problems.length} bad\n`);
  }
  return r.problems.length > 0 ? EXIT_PROBLEMS : EXIT_OK;
}
