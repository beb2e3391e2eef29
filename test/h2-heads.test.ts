/**
 * HTTP/2 HEADERS from node:http's flat lists (src/server/h2-heads.ts): the conversions, table by
 * table, and the sender's choice of form. The sender's streams here are stand-ins that record what
 * respond() got and refuse a list as a Node without raw headers does; h2-exchange.test.ts and the
 * h2 project run the same code on real streams of whichever Node runs the suite.
 */
import { describe, expect, it } from 'vitest';
import type { OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { headerList, headerObject, HeadSender } from '../src/server/h2-heads.js';

describe('headerList', () => {
  const cases: Array<[string, number, string[], Map<string, string> | undefined, string[]]> = [
    ['status first, names in lower case', 200, ['Content-Type', 'text/plain', 'ETag', '"x"'], undefined, [':status', '200', 'content-type', 'text/plain', 'etag', '"x"']],
    ['no fields', 304, [], undefined, [':status', '304']],
    ['repeated names kept, in order', 200, ['Vary', 'Origin', 'vary', 'Range'], undefined, [':status', '200', 'vary', 'Origin', 'vary', 'Range']],
    [
      'connection-specific fields left out',
      200,
      ['Connection', 'close', 'Keep-Alive', 'timeout=5', 'Proxy-Connection', 'x', 'Transfer-Encoding', 'chunked', 'Upgrade', 'h2c', 'Age', '3'],
      undefined,
      [':status', '200', 'age', '3'],
    ],
    ['an odd trailing name is ignored', 200, ['Age', '1', 'Dangling'], undefined, [':status', '200', 'age', '1']],
    ['extra appended', 200, ['Age', '1'], new Map([['strict-transport-security', 'max-age=1']]), [':status', '200', 'age', '1', 'strict-transport-security', 'max-age=1']],
    ['extra replaces a field of its name', 200, ['Age', '1', 'Cache-Control', 'no-store'], new Map([['cache-control', 'max-age=5']]), [':status', '200', 'age', '1', 'cache-control', 'max-age=5']],
  ];
  it.each(cases)('%s', (_what, status, head, extra, want) => {
    expect(headerList(status, head, extra)).toEqual(want);
  });
});

describe('headerObject', () => {
  const cases: Array<[string, string[], OutgoingHttpHeaders]> = [
    ['status as a number', [':status', '206', 'content-range', 'bytes 0-0/9'], { ':status': 206, 'content-range': 'bytes 0-0/9' }],
    ['a repeated name becomes an array, in order', [':status', '200', 'x-part', 'a', 'x-part', 'b', 'x-part', 'c'], { ':status': 200, 'x-part': ['a', 'b', 'c'] }],
    ['status alone', [':status', '304'], { ':status': 304 }],
  ];
  it.each(cases)('%s', (_what, list, want) => {
    expect(headerObject(list)).toStrictEqual(want);
  });
});

let clock = 0;

/**
 * A stand-in stream: records what respond() got; `lists: false` refuses an array as Node 20
 * does, and a list taken gets a date field pushed onto it when it has none, as Node 24 does.
 */
function stream(lists: boolean, refuse?: Error): ServerHttp2Stream & { got: unknown[]; tries: number } {
  const got: unknown[] = [];
  const s = {
    got,
    tries: 0,
    respond(headers: unknown) {
      s.tries++;
      if (refuse !== undefined) throw refuse;
      if (Array.isArray(headers) && !lists) throw Object.assign(new TypeError('The "headers" argument must be of type object'), { code: 'ERR_INVALID_ARG_TYPE' });
      if (Array.isArray(headers) && !headers.includes('date')) headers.push('date', String(clock++));
      got.push(headers);
    },
  };
  return s as unknown as ServerHttp2Stream & { got: unknown[]; tries: number };
}

describe('HeadSender', () => {
  const head = Object.freeze(['Content-Type', 'text/plain', 'Content-Length', '5']);

  it('sends lists where node:http2 takes them, and keeps the list of a frozen head', () => {
    const heads = new HeadSender();
    expect(heads.takesLists).toBeUndefined();
    const a = stream(true);
    const b = stream(true);
    heads.respond(a, 200, head, undefined, false);
    heads.respond(b, 200, head, undefined, true);
    expect(heads.takesLists).toBe(true);
    const [dateA, dateB] = [(a.got[0] as string[]).at(-1), (b.got[0] as string[]).at(-1)];
    expect(a.got[0]).toEqual([':status', '200', 'content-type', 'text/plain', 'content-length', '5', 'date', dateA]);
    // Each answer its own copy of the kept list: node's date field never sticks to it.
    expect(b.got[0]).toEqual([':status', '200', 'content-type', 'text/plain', 'content-length', '5', 'date', dateB]);
    expect(dateB).not.toBe(dateA);
  });

  it('falls back to objects for good when the first list is refused as a type, and keeps the object of a frozen head', () => {
    const heads = new HeadSender();
    const a = stream(false);
    const b = stream(false);
    heads.respond(a, 200, head, undefined, false);
    expect(heads.takesLists).toBe(false);
    heads.respond(b, 200, head, undefined, false);
    expect(a.got).toEqual([{ ':status': 200, 'content-type': 'text/plain', 'content-length': '5' }]);
    expect(b.got[0]).toBe(a.got[0]);
    expect([a.tries, b.tries]).toEqual([2, 1]); // the list tried once, on the first answer only
  });

  it('a head that is not frozen, or another status for the same head, is made anew each time (objects: where identity shows)', () => {
    const heads = new HeadSender();
    const loose = ['Age', '1'];
    const a = stream(false);
    const b = stream(false);
    heads.respond(a, 200, loose, undefined, false);
    heads.respond(b, 200, loose, undefined, false);
    expect(b.got[0]).toEqual(a.got[0]);
    expect(b.got[0]).not.toBe(a.got[0]);
    const c = stream(false);
    heads.respond(c, 304, head, undefined, true);
    const e = stream(false);
    heads.respond(e, 200, head, undefined, true);
    expect(e.got[0]).toEqual({ ':status': 200, 'content-type': 'text/plain', 'content-length': '5' });
    const d = stream(false);
    heads.respond(d, 304, head, undefined, true);
    expect(d.got[0]).toEqual({ ':status': 304, 'content-type': 'text/plain', 'content-length': '5' });
    expect(d.got[0]).toBe(c.got[0]); // the first status made of a head is the one kept
    expect(d.got[0]).not.toBe(e.got[0]);
  });

  it('lists: another status for a kept head gets its own status', () => {
    const heads = new HeadSender();
    heads.respond(stream(true), 304, head, undefined, true);
    const e = stream(true);
    heads.respond(e, 200, head, undefined, true);
    expect((e.got[0] as string[]).slice(0, 2)).toEqual([':status', '200']);
  });

  it('extra fields are sent in either form and never stick to the kept one', () => {
    for (const lists of [true, false]) {
      const heads = new HeadSender();
      const extra = new Map([['strict-transport-security', 'max-age=9']]);
      const a = stream(lists);
      heads.respond(a, 200, head, extra, false);
      const b = stream(lists);
      heads.respond(b, 200, head, undefined, false);
      const sent = (s: { got: unknown[] }): OutgoingHttpHeaders => (Array.isArray(s.got[0]) ? headerObject(s.got[0] as string[]) : (s.got[0] as OutgoingHttpHeaders));
      expect(sent(a)['strict-transport-security'], String(lists)).toBe('max-age=9');
      expect(sent(b)['strict-transport-security'], String(lists)).toBeUndefined();
    }
  });

  it('any other refusal is the caller\'s (a header node:http2 refuses), and does not change the form', () => {
    const heads = new HeadSender();
    const bad = Object.assign(new TypeError('Header name must be a valid HTTP token ["X Bad"]'), { code: 'ERR_INVALID_HTTP_TOKEN' });
    expect(() => heads.respond(stream(true, bad), 200, ['X Bad', 'a'], undefined, false)).toThrow(bad);
    expect(heads.takesLists).toBeUndefined();
    heads.respond(stream(true), 200, head, undefined, false);
    expect(heads.takesLists).toBe(true);
    const typeLater = Object.assign(new TypeError('x'), { code: 'ERR_INVALID_ARG_TYPE' });
    expect(() => heads.respond(stream(true, typeLater), 200, head, undefined, false)).toThrow(typeLater);
    expect(heads.takesLists).toBe(true);
  });
});
