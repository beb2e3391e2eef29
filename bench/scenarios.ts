// The scenarios: what each one requests, which status it expects, which load generator
// fits it, and a preflight request that checks a server answers it correctly.
import http from 'node:http';
import type { Content } from './content.js';
import type { LoadPlan, LoadRequest } from './generators/types.js';
import { DISK_MEMORY_SHARE, type ScenarioName } from './options.js';

export interface Preflight {
  ok: boolean;
  detail: string;
  /** Extra values the plan needs (the ETag for revalidation). */
  etag?: string;
}

export interface Scenario {
  name: ScenarioName;
  description: string;
  /** wrk for byte throughput (autocannon saturates near 100 MB/s here), autocannon otherwise. */
  generator: 'wrk' | 'autocannon';
  expectStatus: number;
  /** Drop the page cache before it (with --drop-caches). */
  cold?: boolean;
  /** Run the server in a memory cgroup of this many bytes (page cache included) for the measurement. */
  memoryLimit?: (content: Content) => number;
  preflight: (baseUrl: string, content: Content) => Promise<Preflight>;
  plan: (content: Content, pre: Preflight) => LoadPlan;
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  length: number;
}

function fetchOnce(baseUrl: string, req: LoadRequest): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const r = http.request(
      `${baseUrl}${req.path}`,
      { method: req.method, headers: req.headers, agent: false, timeout: 10_000 },
      (res) => {
        let length = 0;
        res.on('data', (d: Buffer) => (length += d.length));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, length }));
        res.on('error', reject);
      },
    );
    r.on('timeout', () => r.destroy(new Error(`timeout on ${req.path}`)));
    r.on('error', reject);
    r.end();
  });
}

/** Fetches req and checks status and body length. */
async function check(baseUrl: string, req: LoadRequest, status: number, length?: number): Promise<Preflight> {
  try {
    const a = await fetchOnce(baseUrl, req);
    const problems: string[] = [];
    if (a.status !== status) problems.push(`status ${a.status}, expected ${status}`);
    if (length !== undefined && a.length !== length) problems.push(`body ${a.length} B, expected ${length} B`);
    const etag = typeof a.headers.etag === 'string' ? a.headers.etag : undefined;
    return {
      ok: problems.length === 0,
      detail: problems.length ? `${req.method} ${req.path}: ${problems.join('; ')}` : `${req.method} ${req.path} → ${a.status}`,
      etag,
    };
  } catch (e) {
    return { ok: false, detail: `${req.method} ${req.path}: ${(e as Error).message}` };
  }
}

const get = (path: string, headers?: Record<string, string>): LoadRequest => ({ method: 'GET', path, headers });

/** Segments fetched after each playlist reload in the player-like mix. */
export const MIX_SEGMENTS_PER_RELOAD = 4;

export const SCENARIOS: Record<ScenarioName, Scenario> = {
  playlist: {
    name: 'playlist',
    description: 'GET the media playlist',
    generator: 'autocannon',
    expectStatus: 200,
    preflight: (b, c) => check(b, get(c.playlistPath), 200),
    plan: (c) => ({ sequence: [get(c.playlistPath)], random: false }),
  },
  segments: {
    name: 'segments',
    description: 'GET whole hot segments, rotating',
    generator: 'wrk',
    expectStatus: 200,
    preflight: (b, c) => check(b, get(c.segmentPaths[0]!), 200, c.spec.segmentBytes),
    plan: (c) => ({ sequence: c.segmentPaths.map((p) => get(p)), random: false }),
  },
  ranges: {
    name: 'ranges',
    description: 'GET random 256 KiB ranges of the single-file rendition (Range header)',
    generator: 'wrk',
    expectStatus: 206,
    preflight: (b, c) => {
      const [s, e] = c.ranges[c.ranges.length > 1 ? 1 : 0]!;
      return check(b, get(c.rangePath, { Range: `bytes=${s}-${e}` }), 206, e - s + 1);
    },
    plan: (c) => ({ sequence: c.ranges.map(([s, e]) => get(c.rangePath, { Range: `bytes=${s}-${e}` })), random: true }),
  },
  cold: {
    name: 'cold',
    description: 'GET segments of a library larger than the cache, rotating',
    generator: 'wrk',
    expectStatus: 200,
    cold: true,
    preflight: (b, c) => check(b, get(c.coldPaths[c.coldPaths.length - 1]!), 200, c.spec.coldSegmentBytes),
    plan: (c) => ({ sequence: c.coldPaths.map((p) => get(p)), random: false }),
  },
  disk: {
    name: 'disk',
    description: `GET segments of a library ${1 / DISK_MEMORY_SHARE}× the memory the server may use, rotating (reads go to the device)`,
    generator: 'wrk',
    expectStatus: 200,
    memoryLimit: (c) => Math.floor(c.diskPaths.length * c.spec.coldSegmentBytes * DISK_MEMORY_SHARE),
    preflight: (b, c) => check(b, get(c.diskPaths[c.diskPaths.length - 1]!), 200, c.spec.coldSegmentBytes),
    plan: (c) => ({ sequence: c.diskPaths.map((p) => get(p)), random: false }),
  },
  revalidate: {
    name: 'revalidate',
    description: 'GET a segment with If-None-Match (ETag fetched first) → 304',
    generator: 'autocannon',
    expectStatus: 304,
    preflight: async (b, c) => {
      const first = await check(b, get(c.segmentPaths[0]!), 200, c.spec.segmentBytes);
      if (!first.ok) return first;
      if (!first.etag) return { ok: false, detail: `no ETag on ${c.segmentPaths[0]}` };
      const again = await check(b, get(c.segmentPaths[0]!, { 'If-None-Match': first.etag }), 304, 0);
      return { ...again, etag: first.etag };
    },
    plan: (c, pre) => ({ sequence: [get(c.segmentPaths[0]!, { 'If-None-Match': pre.etag ?? '"none"' })], random: false }),
  },
  head: {
    name: 'head',
    description: 'HEAD a segment',
    generator: 'autocannon',
    expectStatus: 200,
    preflight: (b, c) => check(b, { method: 'HEAD', path: c.segmentPaths[0]! }, 200, 0),
    plan: (c) => ({ sequence: [{ method: 'HEAD', path: c.segmentPaths[0]! }], random: false }),
  },
  mix: {
    name: 'mix',
    description: `player-like: reload the playlist, then the next ${MIX_SEGMENTS_PER_RELOAD} segments in order`,
    // Mostly bytes, so wrk (autocannon tops out near 55-100 MB/s here). wrk's Lua hooks
    // cannot tell connections apart: the order is kept per wrk thread (one thread, shared by
    // all connections), not per connection; autocannon (--no-wrk) keeps it per connection.
    generator: 'wrk',
    expectStatus: 200,
    preflight: (b, c) => check(b, get(c.playlistPath), 200),
    plan: (c) => {
      const sequence: LoadRequest[] = [];
      c.segmentPaths.forEach((p, i) => {
        if (i % MIX_SEGMENTS_PER_RELOAD === 0) sequence.push(get(c.playlistPath));
        sequence.push(get(p));
      });
      return { sequence, random: false };
    },
  },
};
