/**
 * Answers a GET or HEAD for a cached object. The order reads top to bottom like RFC 9110 asks:
 * pick the encoding, 412, 304, If-Range, 416 or 206, HEAD, body. Every body is a zero-copy view
 * of the cached bytes handed to res.end() (over HTTPS/1.1, in slices); nothing here stats, hashes
 * or copies media.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { evaluatePreconditions, ifRangeAllows } from '../http/conditional.js';
import { negotiateEncoding } from '../http/encoding.js';
import { contentRange, parseRange, unsatisfiedRange, type ByteRange } from '../http/range.js';
import { multipartByteranges, type MultipartBody } from '../http/multipart.js';
import type { Resident } from '../store/objects.js';
import { ReadEntry } from '../store/read-tier.js';
import type { Metrics } from '../observe/metrics.js';
import type { Representation, Variant } from './representation.js';
import { cut, drained, gone } from './drained.js';
import { crc32cHeader } from '../http/declared-digest.js';

/** A cached object ready to answer from: its bytes and its precomputed response data. */
export interface InMemory extends Resident {
  readonly rep: Representation;
}

/** An object in memory, or one of the read tier, whose bytes are read from its file per request. */
export type Servable = InMemory | ReadEntry<Representation>;

export interface RespondContext {
  /** Where the byte path checks that pages are resident before a send. */
  readonly memory: { ensureResident(e: Resident, start: number, length: number): Promise<void> | undefined };
  readonly metrics: Metrics;
  readonly maxRanges: number;
  /** Per-request CORS headers (allow-list policy only), else undefined. */
  readonly corsFor: ((req: IncomingMessage) => readonly string[]) | undefined;
}

/** Writes past this size go out in windows with backpressure instead of one res.end(). */
const WINDOW = 256 * 1024 * 1024;

/** `extra`: per-request headers to add to every answer (an edge's Cache-Status and Age). */
export function respond(req: IncomingMessage, res: ServerResponse, e: Servable, ctx: RespondContext, extra?: readonly string[]): void | Promise<void> {
  const rep = e.rep;
  const h = req.headers;
  const range = h.range;

  // Compressed playlists only for whole-body requests: ranges address the identity bytes.
  let v: Variant = rep.identity;
  if (range === undefined && (rep.br !== undefined || rep.gzip !== undefined)) {
    const enc = negotiateEncoding(h['accept-encoding']);
    v = (enc === 'br' ? rep.br : enc === 'gzip' ? rep.gzip : undefined) ?? rep.identity;
  }
  // Asked the way S3 is asked (an edge in front of this segd asks so): the CRC32C of the bytes,
  // which lets that edge check its fill and send the same ETag from its first byte on.
  if (h['x-amz-checksum-mode'] !== undefined && v === rep.identity) extra = [...(extra ?? []), 'x-amz-checksum-crc32c', crc32cHeader(e.file.crc32c)];
  const withCors = extra === undefined ? perRequest : (q: IncomingMessage, c: RespondContext, hs: readonly string[]): readonly string[] => [...perRequest(q, c, hs), ...extra];

  // Most requests carry no precondition; skip building the header record for them.
  const conditional = h['if-match'] !== undefined || h['if-none-match'] !== undefined || h['if-modified-since'] !== undefined || h['if-unmodified-since'] !== undefined;
  const pre = conditional
    ? evaluatePreconditions(
        { ifMatch: h['if-match'], ifNoneMatch: h['if-none-match'], ifModifiedSince: h['if-modified-since'], ifUnmodifiedSince: h['if-unmodified-since'] },
        v.validators,
      )
    : 'proceed';
  // A 412 has an empty body and says so (without Content-Length a GET's 412 went out chunked,
  // unlike its HEAD).
  if (pre === 'precondition-failed') return finish(res, ctx, rep, 412, [...withCors(req, ctx, v.notModified), 'Content-Length', '0']);
  if (pre === 'not-modified') return finish(res, ctx, rep, 304, withCors(req, ctx, v.notModified));

  if (range !== undefined && ifRangeAllows(first(h['if-range']), v.validators)) {
    const parsed = parseRange(rep.size, range, ctx.maxRanges);
    if (parsed.kind === 'unsatisfiable') {
      return finish(res, ctx, rep, 416, [...withCors(req, ctx, v.partial), 'Content-Range', unsatisfiedRange(rep.size), 'Content-Length', '0']);
    }
    if (parsed.kind === 'ranges') {
      return parsed.ranges.length === 1 ? single(req, res, e, ctx, withCors(req, ctx, v.partial), parsed.ranges[0]!) : multiple(req, res, e, ctx, withCors(req, ctx, v.partial), parsed.ranges);
    }
    // 'ignore': an invalid or too costly Range is served as a plain 200.
  }

  if (v.body !== undefined) {
    return send(req, res, ctx, rep, 200, withCors(req, ctx, v.full), v.body);
  }
  return sendView(req, res, e, ctx, 200, withCors(req, ctx, v.full), 0, rep.size);
}

function single(req: IncomingMessage, res: ServerResponse, e: Servable, ctx: RespondContext, partial: readonly string[], r: ByteRange): void | Promise<void> {
  const length = r.end - r.start + 1;
  const headers = [
    ...partial,
    'Content-Type', e.rep.contentType,
    'Content-Range', contentRange(r, e.rep.size),
    'Content-Length', String(length),
  ];
  return sendView(req, res, e, ctx, 206, headers, r.start, length);
}

function multiple(req: IncomingMessage, res: ServerResponse, e: Servable, ctx: RespondContext, partial: readonly string[], ranges: readonly ByteRange[]): void | Promise<void> {
  if (e instanceof ReadEntry) return multipleRead(req, res, e, ctx, partial, ranges);
  const body = multipartByteranges(ranges, e.rep.size, e.rep.contentType, (s, l) => e.file.view(s, l));
  const headers = [...partial, 'Content-Type', body.contentType, 'Content-Length', String(body.length)];
  const write = (): void => {
    if (req.method !== 'HEAD' && !intact(req, e, body.chunks)) return void cut(res);
    sendParts(req, res, ctx, e.rep, headers, body);
  };
  const waits = ranges.map((r) => ctx.memory.ensureResident(e, r.start, r.end - r.start + 1)).filter((w) => w !== undefined);
  if (waits.length === 0) return write();
  return Promise.all(waits).then(write);
}

/** The parts of a multi-range answer read (and checked) first: they are small, at most 16 of them. */
async function multipleRead(req: IncomingMessage, res: ServerResponse, e: ReadEntry<Representation>, ctx: RespondContext, partial: readonly string[], ranges: readonly ByteRange[]): Promise<void> {
  let parts: Buffer[] | undefined;
  if (req.method !== 'HEAD') {
    try {
      parts = await Promise.all(ranges.map((r) => e.bytes(r.start, r.end - r.start + 1)));
    } catch {
      return void cut(res);
    }
  }
  let i = 0;
  const body = multipartByteranges(ranges, e.rep.size, e.rep.contentType, parts && (() => parts[i++]!));
  sendParts(req, res, ctx, e.rep, [...partial, 'Content-Type', body.contentType, 'Content-Length', String(body.length)], body);
}

/** A multipart/byteranges answer: its head, then (for a GET) every part in one corked write. */
function sendParts(req: IncomingMessage, res: ServerResponse, ctx: RespondContext, rep: Representation, headers: readonly string[], body: MultipartBody): void {
  countAndHead(res, ctx, rep, 206, headers);
  if (req.method === 'HEAD') return void res.end();
  ctx.metrics.body(rep.kind, body.length);
  res.cork();
  for (const chunk of body.chunks) res.write(chunk);
  res.end();
  res.uncork();
}

function sendView(req: IncomingMessage, res: ServerResponse, e: Servable, ctx: RespondContext, status: number, headers: readonly string[], start: number, length: number): void | Promise<void> {
  if (req.method === 'HEAD') return finish(res, ctx, e.rep, status, headers);
  if (e instanceof ReadEntry) return sendRead(req, res, e, ctx, status, headers, start, length);
  const go = (): void | Promise<void> => {
    if (length > WINDOW) return sendWindows(req, res, e, ctx, status, headers, start, length);
    const body = e.file.view(start, length);
    if (!intact(req, e, [body])) return void cut(res);
    return send(req, res, ctx, e.rep, status, headers, body, e);
  };
  const wait = ctx.memory.ensureResident(e, start, length);
  return wait === undefined ? go() : wait.then(go);
}

/** `mapped`: the object `body` is a view of, whose slices are checked as they go (writeSlices). */
function send(req: IncomingMessage, res: ServerResponse, ctx: RespondContext, rep: Representation, status: number, headers: readonly string[], body: Buffer, mapped?: InMemory): void | Promise<void> {
  countAndHead(res, ctx, rep, status, headers);
  if (req.method === 'HEAD') return void res.end();
  ctx.metrics.body(rep.kind, body.length);
  headApart(req, res, body.length);
  if (body.length > TLS_SLICE && tls1(req)) return writeSlices(req, res, body, mapped).then((sent) => void (sent && res.end()));
  res.end(body); // zero-copy: body is a view of the cached object
}

/** Bodies from this size on go out after a head of their own over HTTPS/1.1 (headApart). */
const HEAD_APART = 64 * 1024;

/**
 * Over TLS, node:http hands a response's head and its first body chunk to OpenSSL joined in one
 * new buffer: a copy of the whole chunk (a 1 MiB segment's, on every answer). A large body goes
 * after a head sent on its own instead, which costs one more small TLS record. HTTP/2 sends its
 * HEADERS frame apart anyway, and plain HTTP/1.1 hands both to writev() without a copy.
 */
function headApart(req: IncomingMessage, res: ServerResponse, length: number): void {
  if (length >= HEAD_APART && tls1(req)) res.flushHeaders();
}

/** An HTTPS/1.1 request. */
function tls1(req: IncomingMessage): boolean {
  return req.httpVersionMajor === 1 && encrypted(req);
}

/** Over HTTPS/1.1, bodies past this size go to OpenSSL a slice at a time (writeSlices). */
const TLS_SLICE = 128 * 1024;

/**
 * Writes `bytes` over HTTPS/1.1 a TLS_SLICE at a time, each slice once the socket has taken the
 * one before. Handed a whole 1 MiB segment, node's TLS layer encrypts all of it into fresh
 * buffers before the first byte reaches the kernel; a slice stays in the core's cache from
 * OpenSSL to the socket (here +3-7% on in-memory segments, +10% on the read tier's chunks).
 *
 * When `bytes` are a view of `mapped`, each slice is checked (intact()) just before OpenSSL reads
 * it: a slow client's later slices are encrypted long after the body was checked, and a file
 * truncated in between must cut the response, not finish it with zeros. `taken` runs once the
 * socket has the last slice; never if the response is gone first (the bytes are then left to the
 * garbage collector). False when the response was cut or gone before its last slice.
 */
async function writeSlices(req: IncomingMessage, res: ServerResponse, bytes: Buffer, mapped?: InMemory, taken?: () => void): Promise<boolean> {
  for (let off = 0; off < bytes.length; off += TLS_SLICE) {
    if (gone(res)) return false;
    const end = Math.min(off + TLS_SLICE, bytes.length);
    const slice = bytes.subarray(off, end);
    if (mapped !== undefined && !intact(req, mapped, [slice])) {
      cut(res);
      return false;
    }
    if (!res.write(slice, end === bytes.length ? taken : undefined)) await drained(res);
  }
  return true;
}

/** An HTTP/1.1 request over TLS (HTTP/2's socket is node:http2's proxy: not asked here). */
function encrypted(req: IncomingMessage): boolean {
  return (req.socket as { encrypted?: boolean }).encrypted === true;
}

/** A body bigger than one Buffer window, written window by window as the socket drains. */
async function sendWindows(req: IncomingMessage, res: ServerResponse, e: InMemory, ctx: RespondContext, status: number, headers: readonly string[], start: number, length: number): Promise<void> {
  countAndHead(res, ctx, e.rep, status, headers);
  headApart(req, res, length);
  for (let off = 0; off < length && !gone(res); off += WINDOW) {
    const n = Math.min(WINDOW, length - off);
    const view = e.file.view(start + off, n);
    if (!intact(req, e, [view])) return void cut(res);
    ctx.metrics.body(e.rep.kind, n);
    if (tls1(req)) {
      if (!(await writeSlices(req, res, view, e))) return;
    } else if (!res.write(view)) await drained(res);
  }
  res.end();
}

/**
 * A body read from the file block by block, each block checked before it is sent, each chunk's
 * buffer recycled once the socket has taken it. Bytes that no longer match their checksum (the
 * file was rewritten in place) cut the response short: before its first byte, the client sees
 * the connection close (HTTP/2: the stream reset) without an answer, never a 200 with other
 * bytes than its ETag's. The head waits for the first checked chunk: node:http would hold it
 * back until the first write anyway, but node:http2 sends HEADERS at once.
 */
async function sendRead(req: IncomingMessage, res: ServerResponse, e: ReadEntry<Representation>, ctx: RespondContext, status: number, headers: readonly string[], start: number, length: number): Promise<void> {
  let headed = false;
  try {
    for await (const chunk of e.chunks(start, length)) {
      if (gone(res)) {
        chunk.release();
        return;
      }
      if (!headed) {
        countAndHead(res, ctx, e.rep, status, headers);
        headApart(req, res, length);
      }
      headed = true;
      ctx.metrics.body(e.rep.kind, chunk.bytes.length);
      if (chunk.bytes.length > TLS_SLICE && tls1(req)) await writeSlices(req, res, chunk.bytes, undefined, chunk.release);
      else if (!res.write(chunk.bytes, chunk.release)) await drained(res);
    }
  } catch {
    return void cut(res);
  }
  if (!headed) countAndHead(res, ctx, e.rep, status, headers);
  res.end();
}

/**
 * Whether views of e's bytes may still go out on this response. A file truncated under its
 * mapping poisons it: the addon's SIGBUS guard has mapped zero pages where the file's pages
 * vanished, and those zeros must never reach a client as the object's bytes. The request is
 * cut instead, as when the pages vanish in the middle of a send; the player retries, and the
 * memory tier hands the retry no poisoned object, so it reloads the file.
 *
 * The poison is found where bytes are read in user space. An HTTP/1 write on a plain socket is
 * the kernel's copy, which meets a vanished page as EFAULT and cuts the response by itself. TLS
 * encrypts the body in user space (OpenSSL), and HTTP/2 copies it into frames: there the read
 * would fault in the middle of a response already under way and carry on with zeros. So for
 * those every page is read here first, and a fault is taken (and repaired) before anything is
 * sent. Over HTTPS/1.1 a body in slices is checked again slice by slice (writeSlices). What
 * remains: a truncation between a check and the encryption, as between any check and a send; and
 * HTTP/2, which frames a body as the client's flow-control window allows, so a stalled HTTP/2
 * client's later frames are read long after this check.
 */
function intact(req: IncomingMessage, e: InMemory, views: readonly Buffer[]): boolean {
  if (e.mapping === undefined) return true;
  if (e.mismatched) return false; // its dropped pages came back with other bytes (memory.ts)
  if (req.httpVersionMajor !== 1 || encrypted(req)) for (const v of views) touchPages(v);
  return !e.mapping.poisoned;
}

/** Sink for the reads of touchPages, so the compiler cannot drop them as unused. */
let touched = 0;

/** One byte of each page of `view`, read in user space: 4 KiB steps reach every page of any size Linux uses, and the last byte the last page. */
function touchPages(view: Buffer): void {
  for (let i = 0; i < view.length; i += 4096) touched ^= view[i]!;
  if (view.length > 0) touched ^= view[view.length - 1]!;
}

function finish(res: ServerResponse, ctx: RespondContext, rep: Representation, status: number, headers: readonly string[]): void {
  countAndHead(res, ctx, rep, status, headers);
  res.end();
}

function countAndHead(res: ServerResponse, ctx: RespondContext, rep: Representation, status: number, headers: readonly string[]): void {
  ctx.metrics.request(status, rep.kind);
  res.writeHead(status, headers as string[]);
}

/** A header Node may deliver as a list (unknown names repeat): the first value decides. */
function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function perRequest(req: IncomingMessage, ctx: RespondContext, headers: readonly string[]): readonly string[] {
  return ctx.corsFor === undefined ? headers : [...headers, ...ctx.corsFor(req)];
}
