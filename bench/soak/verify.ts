// What the soak's clients compare response bodies with: the bytes of the content on disk
// (read back through the page cache), and the parts of a multipart/byteranges body.
import { open, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

/** The served tree as the soak process sees it, keyed by URL path. */
export class Library {
  private readonly handles = new Map<string, Promise<FileHandle>>();
  private readonly sizes = new Map<string, Promise<number>>();

  constructor(private readonly root: string) {}

  private file(urlPath: string): string {
    return path.join(this.root, ...urlPath.split('/'));
  }

  size(urlPath: string): Promise<number> {
    let s = this.sizes.get(urlPath);
    if (s === undefined) {
      s = stat(this.file(urlPath)).then((st) => st.size);
      this.sizes.set(urlPath, s);
    }
    return s;
  }

  /** `length` bytes from `start`, or to the end of the file when length is omitted. */
  async read(urlPath: string, start = 0, length?: number): Promise<Buffer> {
    let h = this.handles.get(urlPath);
    if (h === undefined) {
      h = open(this.file(urlPath), 'r');
      this.handles.set(urlPath, h);
    }
    const n = length ?? (await this.size(urlPath)) - start;
    const buf = Buffer.allocUnsafe(n);
    const { bytesRead } = await (await h).read(buf, 0, n, start);
    return buf.subarray(0, bytesRead);
  }

  async close(): Promise<void> {
    const handles = [...this.handles.values()];
    this.handles.clear();
    await Promise.all(handles.map(async (h) => (await h).close()));
  }
}

/** Where two buffers first differ, for the error detail; null when they are equal. */
export function mismatch(got: Buffer, want: Buffer): string | null {
  if (got.equals(want)) return null;
  const n = Math.min(got.length, want.length);
  let i = 0;
  while (i < n && got[i] === want[i]) i++;
  return `${got.length} bytes instead of ${want.length}, first difference at byte ${i}`;
}

export interface Part {
  start: number;
  end: number;
  body: Buffer;
}

/**
 * Splits a multipart/byteranges body (RFC 9110 §14.6) into its parts, or says what is wrong
 * with it. Each part's length comes from its Content-Range, so media bytes that happen to
 * look like a boundary cannot confuse it.
 */
export function parseByteranges(body: Buffer, contentType: string): Part[] | string {
  const m = /boundary=("?)([^";]+)\1/.exec(contentType);
  if (!m) return `no boundary in "${contentType}"`;
  const delimiter = `\r\n--${m[2]}`;
  const parts: Part[] = [];
  let at = 0;
  for (;;) {
    if (body.toString('latin1', at, at + delimiter.length) !== delimiter) return `no boundary at byte ${at}`;
    at += delimiter.length;
    if (body.toString('latin1', at, at + 4) === '--\r\n') break;
    const headEnd = body.indexOf('\r\n\r\n', at, 'latin1');
    if (headEnd < 0) return `part ${parts.length} has no end of headers`;
    const cr = /content-range: *bytes (\d+)-(\d+)\/\d+/i.exec(body.toString('latin1', at, headEnd));
    if (!cr) return `part ${parts.length} has no Content-Range`;
    const start = Number(cr[1]);
    const end = Number(cr[2]);
    at = headEnd + 4;
    parts.push({ start, end, body: body.subarray(at, at + end - start + 1) });
    at += end - start + 1;
  }
  return at + 4 === body.length ? parts : `${body.length - at - 4} bytes after the closing boundary`;
}
