// The TLS bench's scenarios: HTTPS/1.1 under wrk, HTTP/2 under h2load, and a preflight per
// scenario that fetches one of its requests over the same protocol (verified against the bench
// CA) and checks status and body length.
import { statSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import type { Content } from '../content.js';
import type { LoadPlan, LoadRequest } from '../generators/types.js';
import { SCENARIOS } from '../scenarios.js';

export const TLS_SCENARIOS = ['h1-segments', 'h1-ranges', 'h1-playlist', 'h2-segments', 'h2-playlist'] as const;
export type TlsScenarioName = (typeof TLS_SCENARIOS)[number];

export interface Preflight {
  ok: boolean;
  detail: string;
  /** Negotiated protocol version and cipher, e.g. "TLSv1.3 TLS_AES_256_GCM_SHA384". */
  tls: string;
}

export interface TlsScenario {
  name: TlsScenarioName;
  protocol: 'HTTP/1.1' | 'HTTP/2';
  description: string;
  /** The request the preflight makes and what it expects. */
  probe: (c: Content) => { req: LoadRequest; status: number; length: number };
  /** wrk: the main bench's plan; h2load: the paths every client cycles through, and its -c and -m. */
  wrk?: (c: Content) => LoadPlan;
  h2load?: { paths: (c: Content) => string[]; clients: number; streams: number };
}

const get = (p: string, headers?: Record<string, string>): LoadRequest => ({ method: 'GET', path: p, headers });
const fileSize = (c: Content, p: string): number => statSync(path.join(c.dir, p)).size;
const segmentProbe = (c: Content): ReturnType<TlsScenario['probe']> => ({ req: get(c.segmentPaths[0]!), status: 200, length: c.spec.segmentBytes });
const playlistProbe = (c: Content): ReturnType<TlsScenario['probe']> => ({ req: get(c.playlistPath), status: 200, length: fileSize(c, c.playlistPath) });
const noPreflight = { ok: true, detail: '' };

export const TLS_SCENARIO_DEFS: Record<TlsScenarioName, TlsScenario> = {
  'h1-segments': {
    name: 'h1-segments',
    protocol: 'HTTP/1.1',
    description: 'the 64 hot 1 MiB segments in rotation',
    probe: segmentProbe,
    wrk: (c) => SCENARIOS.segments.plan(c, noPreflight),
  },
  'h1-ranges': {
    name: 'h1-ranges',
    protocol: 'HTTP/1.1',
    description: 'random 256 KiB ranges of range/main.mp4 (206)',
    probe: (c) => {
      const [s, e] = c.ranges[c.ranges.length > 1 ? 1 : 0]!;
      return { req: get(c.rangePath, { Range: `bytes=${s}-${e}` }), status: 206, length: e - s + 1 };
    },
    wrk: (c) => SCENARIOS.ranges.plan(c, noPreflight),
  },
  'h1-playlist': {
    name: 'h1-playlist',
    protocol: 'HTTP/1.1',
    description: 'the media playlist (2 KB)',
    probe: playlistProbe,
    wrk: (c) => SCENARIOS.playlist.plan(c, noPreflight),
  },
  'h2-segments': {
    name: 'h2-segments',
    protocol: 'HTTP/2',
    description: 'the 64 hot segments in rotation, 8 connections × 8 streams',
    probe: segmentProbe,
    h2load: { paths: (c) => c.segmentPaths, clients: 8, streams: 8 },
  },
  'h2-playlist': {
    name: 'h2-playlist',
    protocol: 'HTTP/2',
    description: 'the media playlist, 16 connections × 32 streams',
    probe: playlistProbe,
    h2load: { paths: (c) => [c.playlistPath], clients: 16, streams: 32 },
  },
};

function tlsOf(socket: TLSSocket | undefined | null): string {
  if (!socket || typeof socket.getProtocol !== 'function') return '?';
  return `${socket.getProtocol() ?? '?'} ${socket.getCipher()?.standardName ?? '?'}`;
}

/** One request over HTTPS/1.1 without ALPN, as wrk makes them. */
function fetchH1(baseUrl: string, req: LoadRequest, ca: Buffer): Promise<{ status: number; length: number; tls: string }> {
  return new Promise((resolve, reject) => {
    const r = https.request(`${baseUrl}${req.path}`, { method: req.method, headers: req.headers, ca, agent: false, timeout: 10_000 }, (res) => {
      let length = 0;
      const tls = tlsOf(res.socket as TLSSocket);
      res.on('data', (d: Buffer) => (length += d.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, length, tls }));
      res.on('error', reject);
    });
    r.on('timeout', () => r.destroy(new Error('timeout')));
    r.on('error', reject);
    r.end();
  });
}

/** One request over HTTP/2 (ALPN h2 only). */
function fetchH2(baseUrl: string, req: LoadRequest, ca: Buffer): Promise<{ status: number; length: number; tls: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(baseUrl, { ca, ALPNProtocols: ['h2'] });
    const fail = (e: Error): void => {
      session.destroy();
      reject(e);
    };
    session.on('error', fail);
    session.setTimeout(10_000, () => fail(new Error('timeout')));
    const stream = session.request({ ':method': req.method, ':path': req.path, ...(req.headers ?? {}) });
    let status = 0;
    let length = 0;
    stream.on('response', (h) => (status = Number(h[':status'])));
    stream.on('data', (d: Buffer) => (length += d.length));
    stream.on('error', fail);
    stream.on('end', () => {
      const tls = `${session.alpnProtocol ?? '?'} ${tlsOf(session.socket as TLSSocket)}`;
      session.close();
      resolve({ status, length, tls });
    });
    stream.end();
  });
}

export async function preflight(s: TlsScenario, baseUrl: string, content: Content, ca: Buffer): Promise<Preflight> {
  const { req, status, length } = s.probe(content);
  try {
    const a = await (s.protocol === 'HTTP/2' ? fetchH2 : fetchH1)(baseUrl, req, ca);
    const problems: string[] = [];
    if (a.status !== status) problems.push(`status ${a.status}, expected ${status}`);
    if (a.length !== length) problems.push(`body ${a.length} B, expected ${length} B`);
    const what = `${s.protocol} ${req.method} ${req.path}${req.headers?.Range ? ` (${req.headers.Range})` : ''}`;
    return { ok: problems.length === 0, detail: problems.length ? `${what}: ${problems.join('; ')}` : `${what} → ${a.status}, ${a.length} B`, tls: a.tls };
  } catch (e) {
    return { ok: false, detail: `${s.protocol} ${req.method} ${req.path}: ${(e as Error).message}`, tls: '?' };
  }
}
