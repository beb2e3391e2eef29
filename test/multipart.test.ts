import { describe, expect, it } from 'vitest';
import { multipartByteranges } from '../src/http/multipart.js';

// multipart/byteranges (RFC 9110 §14.6): each part a delimiter, its Content-Type and
// Content-Range, a blank line and its bytes; then the close delimiter.
describe('multipartByteranges', () => {
  const bytes = Buffer.from('abcdefghij');
  const view = (start: number, length: number): Buffer => bytes.subarray(start, start + length);
  const ranges = [{ start: 0, end: 1 }, { start: 5, end: 9 }];

  it('builds the body from views of the bytes, its length counted exactly', () => {
    const body = multipartByteranges(ranges, 10, 'video/mp2t', view);
    const boundary = /^multipart\/byteranges; boundary=(segd-[0-9a-f]{24})$/.exec(body.contentType)?.[1];
    expect(boundary).toBeDefined();
    const expected =
      `\r\n--${boundary}\r\nContent-Type: video/mp2t\r\nContent-Range: bytes 0-1/10\r\n\r\nab` +
      `\r\n--${boundary}\r\nContent-Type: video/mp2t\r\nContent-Range: bytes 5-9/10\r\n\r\nfghij` +
      `\r\n--${boundary}--\r\n`;
    expect(Buffer.concat(body.chunks).toString('latin1')).toBe(expected);
    expect(body.length).toBe(Buffer.byteLength(expected, 'latin1'));
  });

  it('for a HEAD counts the bytes in the length but leaves them out of the chunks', () => {
    const get = multipartByteranges(ranges, 10, 'video/mp2t', view);
    const head = multipartByteranges(ranges, 10, 'video/mp2t', undefined);
    expect(head.contentType).toBe(get.contentType);
    expect(head.length).toBe(get.length);
    expect(Buffer.concat(head.chunks).length).toBe(get.length - 7);
    expect(head.chunks).toHaveLength(3);
  });
});
