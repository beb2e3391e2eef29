/**
 * Answers a GET or HEAD from an edge fill in progress (store/edge/fill.ts): the headers as soon as
 * the origin's arrive, then body bytes as they arrive, with the same order of checks as respond.ts
 * (412, 304, If-Range, 416 or 206, HEAD, body).
 *
 * What differs from a cached object: the checksum is not known until the end, so there is no
 * ETag unless the origin declared the CRC32C up front (then it is the content-derived one every
 * later answer carries too); a range is sent as its bytes arrive; several ranges are answered
 * with the whole body (RFC 9110 allows ignoring Range); and a fill that fails cuts every answer
 * still short of its last byte (the client sees a broken transfer, never a padded or short 200).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { evaluatePreconditions, ifRangeAllows, parseHttpDate, type Validators } from '../http/conditional.js';
import { contentRange, parseRange, unsatisfiedRange } from '../http/range.js';
import { contentEtag } from '../http/etag.js';
import type { ContentKind } from '../http/content-type.js';
import type { Fill, FillHead, FillWaiter } from '../store/edge/fill.js';
import { FORWARDED_HEADERS } from '../store/edge/headers.js';
import type { Metrics } from '../observe/metrics.js';
import { cut, drained, gone } from './drained.js';
import { crc32cHeader } from '../http/declared-digest.js';

/** Bytes read back from the fill's file per step by a waiter that fell behind. */
const BEHIND_READ = 1024 * 1024;
/**
 * A range starting this far past what the fill has received is fetched from the origin on its
 * own (a seek into a large file); nearer ones wait for the fill, which is about to bring them.
 */
export const RANGE_AHEAD = 8 * 1024 * 1024;

export interface FillAnswer {
  readonly fill: Fill;
  readonly head: FillHead;
  readonly kind: ContentKind;
  /** Content-Type and Cache-Control when the origin sent none (segd's policy by content). */
  readonly contentType: string;
  readonly cacheControl: string;
  /** Per-request headers: CORS, Cache-Status, Age. */
  readonly extra: readonly string[];
  /** The origin's body for a range far ahead of the fill, if it will give exactly that. */
  readonly rangeAhead?: ((start: number, end: number) => Promise<AsyncIterable<Buffer> | undefined>) | undefined;
}

/**
 * The validators a fill's answers carry: the content-derived ETag once the CRC32C is known
 * (declared by the origin up front, or the fill is complete and checked), else none.
 */
export function fillValidators(fill: Fill, head: FillHead): Validators {
  const crc = head.declared.crc32c ?? fill.crc32c;
  const length = head.length ?? (fill.checked ? fill.received : undefined);
  return {
    etag: crc !== undefined && length !== undefined ? contentEtag(crc, length) : undefined,
    lastModifiedSec: parseHttpDate(head.headers['last-modified']),
  };
}

export async function respondFromFill(req: IncomingMessage, res: ServerResponse, a: FillAnswer, metrics: Metrics): Promise<void> {
  const { head } = a;
  const headers: string[] = [];
  for (const name of FORWARDED_HEADERS) {
    const v = head.headers[name];
    if (v !== undefined && name !== 'content-type' && name !== 'cache-control') headers.push(canonical(name), v);
  }
  headers.push('Cache-Control', head.headers['cache-control'] ?? a.cacheControl);
  const v = fillValidators(a.fill, head);
  if (v.etag !== undefined) headers.push('ETag', v.etag);
  // An edge asking this one (a fleet's tier) gets the checksum up front when it is known.
  const crc = head.declared.crc32c ?? a.fill.crc32c;
  if (req.headers['x-amz-checksum-mode'] !== undefined && crc !== undefined && head.status === 200) headers.push('x-amz-checksum-crc32c', crc32cHeader(crc));
  if (a.kind === 'playlist') headers.push('Vary', 'Accept-Encoding');
  headers.push(...a.extra);
  // Answers without a body (304, 412, 416) carry no Content-Type, as a cached object's do.
  const contentType = ['Content-Type', head.headers['content-type'] ?? a.contentType];
  const status = head.status;
  const length = head.length;
  const h = req.headers;

  if (status === 200) {
    const pre = evaluatePreconditions({ ifMatch: h['if-match'], ifNoneMatch: h['if-none-match'], ifModifiedSince: h['if-modified-since'], ifUnmodifiedSince: h['if-unmodified-since'] }, v);
    if (pre === 'not-modified') return void writeHead(res, metrics, a.kind, 304, headers, true);
    if (pre === 'precondition-failed') return void writeHead(res, metrics, a.kind, 412, [...headers, 'Content-Length', '0'], true);
    if (length !== undefined) {
      headers.push('Accept-Ranges', 'bytes');
      const ifRange = Array.isArray(h['if-range']) ? h['if-range'][0] : h['if-range'];
      if (h.range !== undefined && ifRangeAllows(ifRange, v)) {
        const parsed = parseRange(length, h.range);
        if (parsed.kind === 'unsatisfiable') return void writeHead(res, metrics, a.kind, 416, [...headers, 'Content-Range', unsatisfiedRange(length), 'Content-Length', '0'], true);
        if (parsed.kind === 'ranges' && parsed.ranges.length === 1) {
          const r = parsed.ranges[0]!;
          // Attached before the wait for the origin: what this answer may read of the fill stays readable meanwhile.
          const waiter = a.fill.attach(r.start);
          try {
            const ahead = req.method !== 'HEAD' && r.start > a.fill.received + RANGE_AHEAD ? await a.rangeAhead?.(r.start, r.end) : undefined;
            writeHead(res, metrics, a.kind, 206, [...headers, ...contentType, 'Content-Range', contentRange(r, length), 'Content-Length', String(r.end - r.start + 1)], req.method === 'HEAD');
            if (ahead !== undefined) {
              waiter.leave(); // answered from the origin: the fill need not go on for this one
              await pipeBody(res, ahead, metrics, a.kind);
            } else if (req.method !== 'HEAD') await stream(res, a.fill, waiter, r.start, r.end, metrics, a.kind);
          } finally {
            waiter.leave();
          }
          return;
        }
      }
    }
  }
  headers.push(...contentType);
  if (length !== undefined) headers.push('Content-Length', String(length));
  writeHead(res, metrics, a.kind, status, headers, req.method === 'HEAD');
  if (req.method !== 'HEAD') await stream(res, a.fill, a.fill.attach(0), 0, length === undefined ? undefined : length - 1, metrics, a.kind);
}

function writeHead(res: ServerResponse, metrics: Metrics, kind: ContentKind, status: number, headers: readonly string[], end: boolean): void {
  metrics.request(status, kind);
  res.writeHead(status, headers as string[]);
  if (end) res.end();
  else res.flushHeaders(); // the headers go now, not with the first body byte, which may take a while
}

/**
 * Sends [start, end] (end undefined: to the end of a body of unknown length) as it arrives, as
 * `waiter` (attached at `start`; it leaves when this ends). Waits for the socket to drain, so a
 * slow client never holds more than one chunk in memory; the fill itself goes on at the origin's pace.
 */
async function stream(res: ServerResponse, fill: Fill, waiter: FillWaiter, start: number, end: number | undefined, metrics: Metrics, kind: ContentKind): Promise<void> {
  try {
    let pos = start;
    while (end === undefined || pos <= end) {
      if (gone(res)) return;
      const limit = fill.sendable;
      let chunk = pos < limit ? fill.available(pos) : undefined;
      if (chunk === undefined && pos < limit && fill.isBehind(pos)) {
        chunk = await fill.readBehind(pos, BEHIND_READ);
        if (chunk === undefined) return cut(res); // let go of, and not on the disk: never waited for in vain
      }
      if (chunk !== undefined && chunk.length > limit - pos) chunk = chunk.subarray(0, limit - pos);
      if (chunk === undefined || chunk.length === 0) {
        const o = fill.outcome;
        if (o === undefined) {
          await fill.changed();
          continue;
        }
        // Ended: complete when every byte was sent, else cut short (failed, or bytes lost).
        if (o.kind !== 'failed' && end === undefined && pos >= fill.received) break;
        cut(res);
        return;
      }
      if (end !== undefined && chunk.length > end - pos + 1) chunk = chunk.subarray(0, end - pos + 1);
      pos += chunk.length;
      waiter.at(pos);
      metrics.body(kind, chunk.length);
      if (!res.write(chunk)) await drained(res);
    }
    res.end();
  } finally {
    waiter.leave();
  }
}

/** An origin body passed straight on; a body that breaks cuts the answer short. */
async function pipeBody(res: ServerResponse, body: AsyncIterable<Buffer>, metrics: Metrics, kind: ContentKind): Promise<void> {
  try {
    for await (const chunk of body) {
      if (gone(res)) return;
      metrics.body(kind, chunk.length);
      if (!res.write(chunk)) await drained(res);
    }
    res.end();
  } catch {
    cut(res);
  }
}

/** `last-modified` → `Last-Modified`: the case every other answer of segd's uses. */
function canonical(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
}
