/** Media types by file extension: the set HLS players care about, everything else octet-stream. */

const TYPES: ReadonlyMap<string, string> = new Map([
  ['.m3u8', 'application/vnd.apple.mpegurl'],
  ['.ts', 'video/mp2t'],
  ['.m4s', 'video/mp4'],
  ['.mp4', 'video/mp4'],
  ['.m4v', 'video/mp4'],
  ['.m4a', 'audio/mp4'],
  ['.cmfv', 'video/mp4'], // CMAF tracks (CTA-5000)
  ['.cmfa', 'audio/mp4'],
  ['.cmft', 'application/mp4'],
  ['.mp3', 'audio/mpeg'],
  ['.ac3', 'audio/ac3'],
  ['.ec3', 'audio/eac3'],
  ['.aac', 'audio/aac'],
  ['.vtt', 'text/vtt; charset=utf-8'],
  ['.webvtt', 'text/vtt; charset=utf-8'],
  ['.json', 'application/json'],
  ['.key', 'application/octet-stream'],
  ['.html', 'text/html; charset=utf-8'],
  ['.js', 'text/javascript; charset=utf-8'],
  ['.css', 'text/css; charset=utf-8'],
  ['.svg', 'image/svg+xml'],
  ['.png', 'image/png'],
  ['.jpg', 'image/jpeg'],
]);

export const OCTET_STREAM = 'application/octet-stream';

export function extensionOf(path: string): string {
  const slash = path.lastIndexOf('/');
  const dot = path.lastIndexOf('.');
  return dot > slash + 1 ? path.slice(dot).toLowerCase() : '';
}

export function contentTypeFor(path: string): string {
  return TYPES.get(extensionOf(path)) ?? OCTET_STREAM;
}

/** What a request is for: it decides caching, compression and the metrics label. */
export type ContentKind = 'playlist' | 'segment' | 'other';

const SEGMENT_EXTENSIONS = new Set(['.ts', '.m4s', '.mp4', '.m4v', '.m4a', '.cmfv', '.cmfa', '.cmft', '.aac', '.mp3', '.ac3', '.ec3', '.vtt', '.webvtt', '.key']);

export function contentKindFor(path: string): ContentKind {
  const ext = extensionOf(path);
  if (ext === '.m3u8') return 'playlist';
  return SEGMENT_EXTENSIONS.has(ext) ? 'segment' : 'other';
}

/**
 * The kind of an object an origin sent: a segment's name with a type that is not media (an HTML
 * error page served with 200 for a .ts) is cached as 'other', briefly, not for a year: segd does
 * not try to detect such pages, but must not make them stick.
 */
export function edgeKindFor(path: string, contentType: string | undefined): ContentKind {
  const kind = contentKindFor(path);
  if (kind !== 'segment' || contentType === undefined) return kind;
  const t = contentType.toLowerCase();
  return /^(text\/(?!vtt)|application\/(json|xml|xhtml))/.test(t) || t.includes('html') ? 'other' : kind;
}
