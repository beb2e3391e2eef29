/**
 * Checksums an origin declares for the bytes it sends, which a fill must match before it is
 * stored: `x-amz-checksum-crc32c` (S3 and S3-compatible stores with checksum mode on, and segd
 * itself as an origin: the same CRC32C segd computes), `Content-MD5` (RFC 1864), and
 * `Repr-Digest` (RFC 9530; sha-256 and sha-512). All base64 in the headers.
 */

export interface DeclaredDigests {
  readonly crc32c?: number;
  readonly md5?: string; // base64
  readonly sha256?: string; // base64
  readonly sha512?: string; // base64
}

function base64Bytes(v: string | undefined, length: number): Buffer | undefined {
  if (v === undefined || !/^[A-Za-z0-9+/]+={0,2}$/.test(v.trim())) return undefined;
  const b = Buffer.from(v.trim(), 'base64');
  return b.length === length ? b : undefined;
}

export function declaredDigests(h: { crc32c?: string | undefined; contentMd5?: string | undefined; reprDigest?: string | undefined }): DeclaredDigests {
  const out: { crc32c?: number; md5?: string; sha256?: string; sha512?: string } = {};
  // S3 sends the full-object CRC32C as base64 of its 4 big-endian bytes; a multipart upload's
  // composite checksum carries a `-N` part count and is not a checksum of the bytes: ignored.
  const crc = base64Bytes(h.crc32c, 4);
  if (crc !== undefined) out.crc32c = crc.readUInt32BE(0);
  const md5 = base64Bytes(h.contentMd5, 16);
  if (md5 !== undefined) out.md5 = md5.toString('base64');
  // Repr-Digest: sha-256=:BASE64:, sha-512=:BASE64: (a Dictionary of byte sequences)
  for (const m of (h.reprDigest ?? '').matchAll(/(sha-256|sha-512)\s*=\s*:([A-Za-z0-9+/=]+):/g)) {
    const bytes = base64Bytes(m[2], m[1] === 'sha-256' ? 32 : 64);
    if (bytes === undefined) continue;
    if (m[1] === 'sha-256') out.sha256 = bytes.toString('base64');
    else out.sha512 = bytes.toString('base64');
  }
  return out;
}

/** The header value segd sends for its own CRC32C, in S3's form. */
export function crc32cHeader(crc: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(crc >>> 0, 0);
  return b.toString('base64');
}
