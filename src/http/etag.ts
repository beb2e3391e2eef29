/**
 * Content-derived validators. The entity tag is the CRC32C and the length of the bytes, so the
 * same file has the same ETag on every server of a fleet (unlike inode or mtime tags) and any
 * change of content changes it.
 */
export function contentEtag(crc32c: number, size: number, suffix = ''): string {
  return `"${crcHex(crc32c)}-${size.toString(16)}${suffix}"`;
}

/** A CRC32C as 8 lower-case hex digits, the form the ETag and the manifest use. */
export function crcHex(crc: number): string {
  return (crc >>> 0).toString(16).padStart(8, '0');
}
