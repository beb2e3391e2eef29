/**
 * Everything about a response that depends only on the object, computed once when the object
 * enters the cache: validators and the header lists of 200, 206 and 304 answers, per encoding.
 * Header lists are flat [name, value, ...] arrays, the form res.writeHead() takes without copying.
 */
import { contentEtag } from '../http/etag.js';
import { cacheControlFor, type CachePolicy } from '../http/cache-control.js';
import { contentKindFor, contentTypeFor, type ContentKind } from '../http/content-type.js';
import type { Encoding } from '../http/encoding.js';
import { parseHttpDate, type Validators } from '../http/conditional.js';
import type { ObjectFacts } from '../store/objects.js';

export interface Variant {
  readonly encoding: Encoding;
  readonly validators: Validators;
  /** The whole encoded body when it differs from the stored bytes (compressed playlists). */
  readonly body: Buffer | undefined;
  readonly length: number;
  /** 200: every header, Content-Length included. */
  readonly full: readonly string[];
  /** 206 and 416: every header but Content-Length/Content-Range/Content-Type. */
  readonly partial: readonly string[];
  /** 304: the headers RFC 9110 §15.4.5 requires a 304 to repeat. */
  readonly notModified: readonly string[];
}

export interface Representation {
  readonly kind: ContentKind;
  readonly contentType: string;
  readonly size: number;
  readonly identity: Variant;
  /** Compressed variants exist only for playlists. */
  readonly br: Variant | undefined;
  readonly gzip: Variant | undefined;
}

export interface DescribeOptions {
  readonly cachePolicy: CachePolicy;
  /** CORS headers that are the same for every response. */
  readonly corsHeaders: readonly string[];
  /** Overrides the policy's Cache-Control (the player's own files use `no-cache`). */
  readonly cacheControl?: string | undefined;
  /** `sha-256=:…:` from the manifest, when it describes exactly these bytes. */
  readonly reprDigest?: string | undefined;
  /** The name that decides the kind and default type (an edge object's file is named by a hash). */
  readonly path?: string | undefined;
  /** Overrides the type by extension (an origin's Content-Type). */
  readonly contentType?: string | undefined;
  /** Overrides the file's mtime: an origin's Last-Modified, or null for none. */
  readonly lastModified?: string | null | undefined;
  /** More headers of the object (an origin's Expires, Content-Disposition...), flat [name, value]. */
  readonly extra?: readonly string[] | undefined;
}

export function describe(file: ObjectFacts, o: DescribeOptions): Representation {
  const name = o.path ?? file.file;
  const kind = contentKindFor(name);
  const contentType = o.contentType ?? contentTypeFor(name);
  const lastModified = o.lastModified === undefined ? new Date(Math.floor(file.mtimeMs / 1000) * 1000).toUTCString() : o.lastModified;
  const lastModifiedSec = lastModified === null ? undefined : parseHttpDate(lastModified);
  const cacheControl = o.cacheControl ?? cacheControlFor(kind, file.playlist, o.cachePolicy);
  const compressible = file.br !== undefined || file.gzip !== undefined;

  const variant = (encoding: Encoding, body: Buffer | undefined, length: number, suffix: string): Variant => {
    const etag = contentEtag(file.crc32c, file.size, suffix);
    const common = ['ETag', etag, ...(lastModified === null ? [] : ['Last-Modified', lastModified]), 'Cache-Control', cacheControl, ...(o.extra ?? []), ...o.corsHeaders];
    if (compressible) common.push('Vary', 'Accept-Encoding');
    const entity = ['Accept-Ranges', 'bytes', ...common];
    if (encoding !== 'identity') entity.push('Content-Encoding', encoding);
    else if (o.reprDigest !== undefined) entity.push('Repr-Digest', o.reprDigest);
    return {
      encoding,
      validators: { etag, lastModifiedSec },
      body,
      length,
      // Frozen: every request of the representation shares them, and HTTP/2 keeps the header
      // object it makes of a frozen list (server/h2-exchange.ts).
      full: Object.freeze(['Content-Type', contentType, 'Content-Length', String(length), ...entity]),
      partial: Object.freeze(entity),
      notModified: Object.freeze(common),
    };
  };

  return {
    kind,
    contentType,
    size: file.size,
    identity: variant('identity', undefined, file.size, ''),
    br: file.br && variant('br', file.br, file.br.length, '-br'),
    gzip: file.gzip && variant('gzip', file.gzip, file.gzip.length, '-gz'),
  };
}
