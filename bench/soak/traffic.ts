// The soak's traffic: players, plus hostile clients (404 floods, range storms, slow and
// stalled readers, aborted downloads). Every exchange ends in one outcome, counted as explained
// (what that traffic causes by design: a 404 for a made-up path, a download we cut ourselves,
// a stalled reader segd disconnects) or unexplained (anything else: an unexpected status, a
// reset, a wrong byte).
import { randomBytes, randomInt } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import http, { type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import zlib from 'node:zlib';
import { parsePlaylistText } from '../../src/catalogue/playlist.js';
import type { ParsedPlaylist } from '../../src/catalogue/types.js';
import type { Content } from '../content.js';
import { Library, mismatch, parseByteranges } from './verify.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * The mix. Rates are moderate on purpose: a soak looks for growth over time at a load segd
 * sustains, not for its ceiling.
 */
export const MIX = {
  /** Longest pause between two requests of one player (a random share of it each time). */
  playerThinkMs: 100,
  /** Segments a player fetches before it switches title. */
  playerSegments: [8, 40] as const,
  /** A player revalidates its media playlist (If-None-Match, expecting 304) every this many segments. */
  revalidateEvery: 8,
  floodEverySec: 5,
  floodRequests: 1000,
  /** Parallel requests; every other one opens a new connection, the rest share half as many kept-alive ones. */
  floodConnections: 32,
  stormEverySec: 5,
  stormRequests: 500,
  stormConnections: 16,
  slowReaders: 2,
  slowBytesPerSec: 256 * KiB,
  stalledReaders: 2,
  /**
   * How long a stalled reader stops reading before it drains what is left: past segd's stall
   * bound (src/server/listen.ts: 60 s without progress, checked every 5 s), so segd must have
   * cut it by then.
   */
  stallHoldSec: 75,
  aborters: 2,
  abortPauseMs: 50,
  /** A normal request with no answer for this long counts as an error. */
  requestTimeoutMs: 30_000,
};

/** Who saw an outcome: a client of the mix, the sampler's /metrics scrape, or segd itself (its log, its exit). */
export type TrafficClass = 'player' | 'flood' | 'storm' | 'slow' | 'stall' | 'abort' | 'scrape' | 'segd';

export interface OutcomeRow {
  cls: TrafficClass;
  outcome: string;
  explained: boolean;
  count: number;
}

/** Outcome counts per traffic class, and the first unexplained events in detail. */
export class Tally {
  private readonly rows = new Map<string, OutcomeRow>();
  readonly details: string[] = [];
  unexplained = 0;
  /** Exchanges finished so far, whatever their outcome (the request rate's numerator). */
  finished = 0;
  private closed = false;

  constructor(private readonly elapsedSec: () => number) {}

  ok(cls: TrafficClass, outcome: string): void {
    this.add(cls, outcome, true);
  }

  bad(cls: TrafficClass, outcome: string, detail: string): void {
    if (!this.add(cls, outcome, false)) return;
    this.unexplained++;
    if (this.details.length < 50) this.details.push(`${this.elapsedSec().toFixed(0)} s: ${cls}: ${outcome}: ${detail}`);
  }

  /** Outcomes after the traffic is stopped come from the soak's own teardown: not counted. */
  close(): void {
    this.closed = true;
  }

  table(): OutcomeRow[] {
    return [...this.rows.values()].sort((a, b) => a.cls.localeCompare(b.cls) || b.count - a.count);
  }

  private add(cls: TrafficClass, outcome: string, explained: boolean): boolean {
    if (this.closed) return false;
    this.finished++;
    const key = `${cls}\0${outcome}\0${explained}`;
    const row = this.rows.get(key);
    if (row) row.count++;
    else this.rows.set(key, { cls, outcome, explained, count: 1 });
    return true;
  }
}

export interface TrafficOptions {
  port: number;
  content: Content;
  players: number;
  /** How long a slow reader keeps reading before it hangs up. */
  slowReadSec: number;
  tally: Tally;
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body, decompressed when it came with a Content-Encoding. */
  body: Buffer;
}

interface Expect {
  status: number;
  headers?: OutgoingHttpHeaders;
  /** For 200 and 206: the bytes of the file the body must equal (default: the whole file). */
  start?: number;
  length?: number;
}

const pick = <T>(list: readonly T[]): T => list[randomInt(list.length)]!;
const errName = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? (e as Error).message;
const PLAYLIST_HEADERS = { 'accept-encoding': 'gzip, deflate, br' };

function decode(res: IncomingMessage, body: Buffer): Buffer {
  switch (res.headers['content-encoding']) {
    case 'br':
      return zlib.brotliDecompressSync(body);
    case 'gzip':
      return zlib.gunzipSync(body);
    default:
      return body;
  }
}

/** A URI of a playlist, as a URL path (the content only uses relative URIs). */
const resolveUri = (playlistPath: string, uri: string): string => path.posix.join(path.posix.dirname(playlistPath), uri);

class Traffic {
  private readonly stopper = new AbortController();
  private readonly library: Library;
  /** Long-lived requests (slow and stalled readers), cut when the traffic stops. */
  private readonly live = new Set<http.ClientRequest>();
  private readonly agents: http.Agent[] = [];
  private readonly titles: string[];
  private readonly rangeTargets: string[];
  private readonly tally: Tally;
  private readonly t0 = Date.now();
  private readonly loops: Promise<void>[] = [];

  constructor(private readonly o: TrafficOptions) {
    this.tally = o.tally;
    // Every client waiting in pause() listens on it.
    setMaxListeners(0, this.stopper.signal);
    this.library = new Library(o.content.dir);
    const tracks = [...new Set(o.content.coldPaths.map((p) => path.posix.dirname(p)))];
    this.titles = [o.content.masterPath, ...tracks.map((t) => `${t}/index.m3u8`)];
    this.rangeTargets = [o.content.rangePath, ...o.content.coldPaths, ...o.content.segmentPaths];
  }

  get stopped(): boolean {
    return this.stopper.signal.aborted;
  }

  start(): void {
    for (let i = 0; i < this.o.players; i++) {
      const agent = this.agent(1);
      this.loops.push(this.repeat(() => this.watch(agent)));
    }
    const flood = this.agent(MIX.floodConnections / 2);
    this.loops.push(
      this.every(MIX.floodEverySec, 0, () =>
        this.burst(MIX.floodRequests, MIX.floodConnections, (i) =>
          this.get('flood', i % 2 === 0 ? flood : false, this.missingPath(), { status: 404 }),
        ),
      ),
    );
    const storm = this.agent(MIX.stormConnections);
    this.loops.push(
      this.every(MIX.stormEverySec, MIX.stormEverySec / 2, () =>
        this.burst(MIX.stormRequests, MIX.stormConnections, () => this.rangeRequest(storm)),
      ),
    );
    for (let i = 0; i < MIX.slowReaders; i++) this.loops.push(this.repeat(() => this.slowRead()));
    for (let i = 0; i < MIX.stalledReaders; i++) this.loops.push(this.repeat(() => this.stalledRead()));
    for (let i = 0; i < MIX.aborters; i++) {
      this.loops.push(this.repeat(async () => {
        await this.abortOne();
        await this.pause(MIX.abortPauseMs);
      }));
    }
  }

  async stop(): Promise<void> {
    this.tally.close();
    this.stopper.abort();
    for (const req of this.live) req.destroy();
    await Promise.allSettled(this.loops);
    for (const a of this.agents) a.destroy();
    await this.library.close();
  }

  // ---- scheduling ---------------------------------------------------------------------------

  private agent(sockets: number): http.Agent {
    // Idle sockets are dropped before segd's 5 s keep-alive timeout: reusing one just as segd
    // closes it would be a reset that the traffic, not segd, caused.
    const a = new http.Agent({ keepAlive: true, maxSockets: sockets, timeout: 4000 });
    this.agents.push(a);
    return a;
  }

  /** Waits ms, or less when the traffic stops. */
  private pause(ms: number): Promise<void> {
    return sleep(ms, undefined, { signal: this.stopper.signal }).catch(() => undefined);
  }

  private async repeat(step: () => Promise<void>): Promise<void> {
    while (!this.stopped) await step();
  }

  /** Runs step every `periodSec`, `offsetSec` into each period (back to back if it takes longer). */
  private async every(periodSec: number, offsetSec: number, step: () => Promise<void>): Promise<void> {
    for (let k = 0; !this.stopped; k++) {
      await this.pause(this.t0 + (k * periodSec + offsetSec) * 1000 - Date.now());
      if (!this.stopped) await step();
    }
  }

  /** n requests over `connections` parallel clients, as fast as segd answers. */
  private async burst(n: number, connections: number, one: (i: number) => Promise<unknown>): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < n && !this.stopped) await one(next++);
    };
    await Promise.all(Array.from({ length: connections }, worker));
  }

  // ---- requests whose whole answer is checked -----------------------------------------------

  private fetch(agent: http.Agent | false, urlPath: string, headers: OutgoingHttpHeaders = {}): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = http.get(
        { host: '127.0.0.1', port: this.o.port, path: urlPath, agent, headers, timeout: MIX.requestTimeoutMs },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            try {
              resolve({ status: res.statusCode ?? 0, headers: res.headers, body: decode(res, Buffer.concat(chunks)) });
            } catch (e) {
              reject(new Error(`undecodable ${res.headers['content-encoding']} body: ${errName(e)}`));
            }
          });
          res.on('close', () => reject(new Error('response cut short')));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer in ${MIX.requestTimeoutMs} ms`)));
      req.on('error', reject);
    });
  }

  /**
   * GETs urlPath and checks the answer: the status, and for 200 and 206 every byte against the
   * file; 304 must have no body. Returns the reply when it is right, else null (counted).
   */
  private async get(cls: TrafficClass, agent: http.Agent | false, urlPath: string, want: Expect): Promise<Reply | null> {
    const range = want.headers?.range === undefined ? '' : ` (Range: ${String(want.headers.range)})`;
    let r: Reply;
    try {
      r = await this.fetch(agent, urlPath, want.headers);
    } catch (e) {
      this.tally.bad(cls, `error ${errName(e)}`, `GET ${urlPath}${range}`);
      return null;
    }
    if (r.status !== want.status) {
      this.tally.bad(cls, `status ${r.status} instead of ${want.status}`, `GET ${urlPath}${range}`);
      return null;
    }
    let wrong: string | null = null;
    if (r.status === 200 || r.status === 206) {
      wrong = mismatch(r.body, await this.library.read(urlPath, want.start, want.length));
    } else if (r.status === 304 && r.body.length > 0) {
      wrong = `a 304 with ${r.body.length} body bytes`;
    }
    if (wrong !== null) {
      this.tally.bad(cls, 'wrong bytes', `GET ${urlPath}${range}: ${wrong}`);
      return null;
    }
    this.tally.ok(cls, String(r.status));
    return r;
  }

  /** A non-empty playlist of the given kind, fetched, checked and parsed; else null (counted). */
  private async playlist<K extends ParsedPlaylist['kind']>(agent: http.Agent, urlPath: string, kind: K): Promise<{ reply: Reply; parsed: Extract<ParsedPlaylist, { kind: K }> } | null> {
    const reply = await this.get('player', agent, urlPath, { status: 200, headers: PLAYLIST_HEADERS });
    if (!reply) return null;
    const parsed = parsePlaylistText(reply.body.toString('utf8'), urlPath);
    const entries = parsed.kind === 'master' ? parsed.variants.length : parsed.kind === 'media' ? parsed.segments.length : 0;
    if (parsed.kind === kind && entries > 0) return { reply, parsed: parsed as Extract<ParsedPlaylist, { kind: K }> };
    this.tally.bad('player', 'unusable playlist', `${urlPath} parsed as ${parsed.kind} with ${entries} entries, expected ${kind}`);
    return null;
  }

  /**
   * One viewing: a title's playlists, its init section, then a run of consecutive segments
   * from a random point, revalidating the media playlist now and then, as hls.js does for VOD.
   */
  private async watch(agent: http.Agent): Promise<void> {
    let mediaPath = pick(this.titles);
    if (mediaPath === this.o.content.masterPath) {
      const master = await this.playlist(agent, mediaPath, 'master');
      if (!master) return;
      mediaPath = resolveUri(mediaPath, pick(master.parsed.variants).uri);
    }
    const media = await this.playlist(agent, mediaPath, 'media');
    if (!media) return;
    const segments = media.parsed.segments;
    const map = segments[0]!.map;
    if (map?.uri !== undefined) await this.segment(agent, resolveUri(mediaPath, map.uri), map.byterange && { offset: map.byterange.offset ?? 0, length: map.byterange.length });
    // Byte ranges without an offset continue where the previous one ended.
    let next = 0;
    const ranges = segments.map((s) => {
      if (s.byterange === undefined) return undefined;
      const offset = s.byterange.offset ?? next;
      next = offset + s.byterange.length;
      return { offset, length: s.byterange.length };
    });
    const first = randomInt(segments.length);
    const last = Math.min(segments.length, first + randomInt(MIX.playerSegments[0], MIX.playerSegments[1] + 1));
    const etag = media.reply.headers.etag;
    for (let i = first; i < last && !this.stopped; i++) {
      await this.pause(randomInt(MIX.playerThinkMs + 1));
      await this.segment(agent, resolveUri(mediaPath, segments[i]!.uri), ranges[i]);
      if (etag !== undefined && (i - first) % MIX.revalidateEvery === MIX.revalidateEvery - 1) {
        await this.get('player', agent, mediaPath, { status: 304, headers: { ...PLAYLIST_HEADERS, 'if-none-match': etag } });
      }
    }
  }

  private segment(agent: http.Agent, urlPath: string, range?: { offset: number; length: number }): Promise<unknown> {
    if (range === undefined) return this.get('player', agent, urlPath, { status: 200 });
    return this.get('player', agent, urlPath, {
      status: 206,
      headers: { range: `bytes=${range.offset}-${range.offset + range.length - 1}` },
      start: range.offset,
      length: range.length,
    });
  }

  private missingPath(): string {
    const name = randomBytes(6).toString('hex');
    return pick([`/nope/${name}.m4s`, `/seg/${name}.m4s`, `/cold/t${name}/index.m3u8`, `/${name}.m3u8`]);
  }

  /** One request of a range storm: small single ranges of every form, multi-range, or past the end. */
  private async rangeRequest(agent: http.Agent): Promise<void> {
    const file = pick(this.rangeTargets);
    const size = await this.library.size(file);
    const small = (max: number): number => 1 + randomInt(Math.min(max, size));
    switch (randomInt(5)) {
      case 0: {
        const start = randomInt(size);
        const length = Math.min(small(16 * KiB), size - start);
        await this.get('storm', agent, file, { status: 206, headers: { range: `bytes=${start}-${start + length - 1}` }, start, length });
        return;
      }
      case 1: {
        const length = small(64 * KiB);
        await this.get('storm', agent, file, { status: 206, headers: { range: `bytes=-${length}` }, start: size - length, length });
        return;
      }
      case 2: {
        const start = size - small(64 * KiB);
        await this.get('storm', agent, file, { status: 206, headers: { range: `bytes=${start}-` }, start });
        return;
      }
      case 3:
        await this.multiRange(agent, file, size);
        return;
      default:
        await this.get('storm', agent, file, { status: 416, headers: { range: `bytes=${size + randomInt(1, 1000)}-` } });
    }
  }

  /** 2 to 16 ranges, ascending and apart, each at most 4 KiB: a 206 multipart/byteranges. */
  private async multiRange(agent: http.Agent, file: string, size: number): Promise<void> {
    const count = randomInt(2, 17);
    const slice = Math.floor(size / count);
    const ranges = Array.from({ length: count }, (_, i) => {
      const length = 1 + randomInt(Math.min(4 * KiB, slice));
      const start = i * slice + randomInt(slice - length + 1);
      return { start, end: start + length - 1 };
    });
    const header = `bytes=${ranges.map((r) => `${r.start}-${r.end}`).join(',')}`;
    const what = `GET ${file} (Range: ${header.length > 80 ? `${count} ranges` : header})`;
    let r: Reply;
    try {
      r = await this.fetch(agent, file, { range: header });
    } catch (e) {
      this.tally.bad('storm', `error ${errName(e)}`, what);
      return;
    }
    if (r.status !== 206) {
      this.tally.bad('storm', `status ${r.status} instead of 206`, what);
      return;
    }
    const parts = parseByteranges(r.body, String(r.headers['content-type']));
    let wrong = typeof parts === 'string' ? parts : parts.length !== count ? `${parts.length} parts for ${count} ranges` : null;
    for (const [i, p] of (typeof parts === 'string' ? [] : parts).entries()) {
      if (wrong !== null) break;
      const want = ranges[i]!;
      if (p.start !== want.start || p.end !== want.end) wrong = `part ${i} is ${p.start}-${p.end}, asked ${want.start}-${want.end}`;
      else {
        const diff = mismatch(p.body, await this.library.read(file, p.start, p.end - p.start + 1));
        if (diff) wrong = `part ${i}: ${diff}`;
      }
    }
    if (wrong !== null) this.tally.bad('storm', 'wrong bytes', `${what}: ${wrong}`);
    else this.tally.ok('storm', '206 multipart');
  }

  // ---- clients that misbehave on purpose ----------------------------------------------------

  /**
   * A GET on a fresh connection whose course the caller steers. `end` records the outcome once
   * and closes the connection; an error or a status other than 200 before that is unexplained.
   */
  private raw(cls: TrafficClass, urlPath: string, steer: (res: IncomingMessage, end: Ender, req: http.ClientRequest) => void, onSocket?: (end: Ender) => void): Promise<void> {
    return new Promise((resolve) => {
      const t0 = Date.now();
      let done = false;
      const end: Ender = (outcome, explained, detail = '') => {
        if (done) return;
        done = true;
        if (explained) this.tally.ok(cls, outcome);
        else this.tally.bad(cls, outcome, `GET ${urlPath}, ${((Date.now() - t0) / 1000).toFixed(1)} s in${detail ? `: ${detail}` : ''}`);
        req.destroy();
        this.live.delete(req);
        resolve();
      };
      const req = http.get({ host: '127.0.0.1', port: this.o.port, path: urlPath, agent: false }, (res) => {
        if (res.statusCode !== 200) end(`status ${res.statusCode} instead of 200`, false);
        else steer(res, end, req);
      });
      req.on('error', (e) => end(`error ${errName(e)}`, false));
      if (onSocket) req.on('socket', (s) => s.once('connect', () => onSocket(end)));
      this.live.add(req);
      if (this.stopped) end('stopped', true);
    });
  }

  /** Reads the large file at MIX.slowBytesPerSec, hanging up after --slow-read seconds. */
  private slowRead(): Promise<void> {
    return this.raw('slow', this.o.content.rangePath, (res, end) => {
      let read = 0;
      const t0 = Date.now();
      const timer = setTimeout(() => end(`hung up after ${this.o.slowReadSec} s (ours)`, true), this.o.slowReadSec * 1000);
      res.on('data', (chunk: Buffer) => {
        read += chunk.length;
        res.pause();
        setTimeout(() => res.resume(), (chunk.length / MIX.slowBytesPerSec) * 1000).unref();
      });
      res.on('end', () => end('200 read to the end', true));
      res.on('close', () => {
        clearTimeout(timer);
        const mib = (read / MiB).toFixed(1);
        end(`cut while reading steadily`, false, `${mib} MiB read at ${MIX.slowBytesPerSec / KiB} KiB/s, still reading when the connection closed ${((Date.now() - t0) / 1000).toFixed(0)} s after the response began`);
      });
    });
  }

  /** Reads the first chunk of the large file, stops reading for MIX.stallHoldSec, then drains. */
  private stalledRead(): Promise<void> {
    return this.raw('stall', this.o.content.rangePath, (res, end) => {
      let timer: NodeJS.Timeout | undefined;
      res.once('data', () => {
        res.pause();
        timer = setTimeout(() => {
          res.on('data', () => undefined);
          res.resume();
        }, MIX.stallHoldSec * 1000);
      });
      res.on('end', () => end('not cut while stalled', false, `segd still sent the whole body after the reader stopped reading for ${MIX.stallHoldSec} s`));
      res.on('close', () => {
        clearTimeout(timer);
        end('cut by segd while stalled', true);
      });
    });
  }

  /** A download we abandon: before the answer, right after its headers, or partway through the body. */
  private abortOne(): Promise<void> {
    const cold = pick(this.o.content.coldPaths);
    switch (randomInt(3)) {
      case 0:
        // A request for a file that is likely out of the cache: segd is loading it when we leave.
        return this.raw(
          'abort',
          cold,
          (_res, end) => end('answered before the abort', true),
          (end) => setTimeout(() => end('aborted before the answer', true), randomInt(3)),
        );
      case 1:
        return this.raw('abort', cold, (_res, end) => end('aborted after the headers', true));
      default: {
        const file = pick([cold, this.o.content.rangePath]);
        return this.raw('abort', file, (res, end) => {
          const cutAt = 1 + randomInt(8 * MiB);
          let read = 0;
          res.on('data', (chunk: Buffer) => {
            read += chunk.length;
            if (read >= cutAt) end('aborted mid-body', true);
          });
          res.on('end', () => end('finished before the abort', true));
          res.on('close', () => end('cut before the abort', false, `${read} bytes read of the ${cutAt} we meant to`));
        });
      }
    }
  }
}

type Ender = (outcome: string, explained: boolean, detail?: string) => void;

/** Starts every client of the mix; stop() ends them and waits until all have finished. */
export function startTraffic(o: TrafficOptions): { stop: () => Promise<void> } {
  const t = new Traffic(o);
  t.start();
  return { stop: () => t.stop() };
}
