/**
 * The manifest as the server uses it: loaded at start, re-read when `segd index` rewrites it
 * (checked every few seconds with an async stat), and looked up per file as objects enter the
 * cache. A missing manifest is normal; a corrupt one is reported once and ignored.
 */
import { stat } from 'node:fs/promises';
import { catalogueLookup, manifestFile, readManifest } from './manifest.js';
import { describeCatalogue, type CatalogueAsset } from './describe.js';
import type { Manifest } from './types.js';

const RECHECK_MS = 3000;

export class ServedManifest {
  private manifest: Manifest | undefined;
  private lookup: ReturnType<typeof catalogueLookup> | undefined;
  private assets: CatalogueAsset[] | undefined;
  private seenMtime = -1;
  private timer: NodeJS.Timeout | undefined;
  /** Called after a re-read found a different manifest (not at open). */
  onChange: (() => void) | undefined;

  private constructor(
    private readonly root: string,
    private readonly warn: (msg: string, fields: Record<string, unknown>) => void,
  ) {}

  static async open(root: string, warn: (msg: string, fields: Record<string, unknown>) => void): Promise<ServedManifest> {
    const m = new ServedManifest(root, warn);
    await m.refresh();
    m.timer = setInterval(() => void m.refresh(), RECHECK_MS).unref();
    return m;
  }

  expected(file: string): ReturnType<ReturnType<typeof catalogueLookup>['expected']> {
    return this.lookup?.expected(file);
  }

  /** `Repr-Digest` for a file, only when the manifest describes exactly these bytes. */
  reprDigest(file: string, size: number, mtimeMs: number, crc32c: number): string | undefined {
    const e = this.lookup?.expected(file);
    return e && e.size === size && e.mtimeMs === mtimeMs && e.crc32c === crc32c ? this.lookup!.reprDigest(file) : undefined;
  }

  catalogue(): { created: string; assets: CatalogueAsset[] } | undefined {
    if (this.manifest === undefined) return undefined;
    this.assets ??= describeCatalogue(this.manifest);
    return { created: this.manifest.created, assets: this.assets };
  }

  close(): void {
    clearInterval(this.timer);
  }

  private async refresh(): Promise<void> {
    const st = await stat(manifestFile(this.root)).catch(() => undefined);
    const mtime = st?.mtimeMs ?? 0;
    if (mtime === this.seenMtime) return;
    this.seenMtime = mtime;
    try {
      this.manifest = st ? await readManifest(this.root) : undefined;
    } catch (err) {
      this.warn('ignoring the manifest', { file: manifestFile(this.root), reason: (err as Error).message });
      this.manifest = undefined;
    }
    this.lookup = this.manifest && catalogueLookup(this.root, this.manifest);
    this.assets = undefined;
    this.onChange?.();
  }
}
