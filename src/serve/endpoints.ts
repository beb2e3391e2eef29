/**
 * segd's own endpoints and the player's mounts: /metrics, /healthz, /readyz, /api/catalogue,
 * and with the player on, /player/ (the hls.js page and its vendored build) and /api/streams.
 */
import { realpath } from 'node:fs/promises';
import { WEB_DIR, hlsJsDir } from '../config/paths.js';
import type { Metrics } from '../observe/metrics.js';
import type { ServedManifest } from '../catalogue/served.js';
import { listStreams } from './streams.js';
import type { InternalEndpoint } from './handler.js';
import type { ContentMount } from './folder.js';

export interface PrefixMount {
  readonly prefix: string;
  readonly mount: ContentMount;
  readonly index?: string;
}

const TEXT = 'text/plain; charset=utf-8';
/** The stream list walks the tree (or reads the manifest): recomputed at most this often. */
const STREAMS_TTL_MS = 5000;

export function internalEndpoints(o: { metrics: Metrics; manifest: ServedManifest | undefined; ready: () => boolean }): Map<string, InternalEndpoint> {
  const endpoints = new Map<string, InternalEndpoint>();
  endpoints.set('metrics', async () => {
    const group = await o.metrics.group?.();
    return { status: 200, contentType: group?.contentType ?? o.metrics.registry.contentType, body: group?.body ?? (await o.metrics.registry.metrics()) };
  });
  endpoints.set('healthz', () => ({ status: 200, contentType: TEXT, body: 'ok\n' }));
  endpoints.set('readyz', () => (o.ready() ? { status: 200, contentType: TEXT, body: 'ready\n' } : { status: 503, contentType: TEXT, body: 'draining\n' }));
  endpoints.set('api/catalogue', () => {
    const c = o.manifest?.catalogue();
    return c === undefined
      ? { status: 404, contentType: 'application/json', body: JSON.stringify({ error: 'no manifest: run segd index DIR' }) }
      : { status: 200, contentType: 'application/json', body: JSON.stringify(c) };
  });
  return endpoints;
}

/**
 * The player page's mounts, and /api/streams added to `endpoints` (the streams of the content
 * root; an edge has none to list: its player takes ?src=).
 */
export async function playerMounts(root: string | undefined, manifest: ServedManifest | undefined, endpoints: Map<string, InternalEndpoint>): Promise<PrefixMount[]> {
  const mounts: PrefixMount[] = [];
  const web = await realpath(WEB_DIR).catch(() => undefined);
  const vendor = await realpath(hlsJsDir()).catch(() => undefined);
  if (vendor) mounts.push({ prefix: 'player/vendor', mount: { root: vendor, realRoot: vendor, followSymlinks: false } });
  if (web) mounts.push({ prefix: 'player', mount: { root: web, realRoot: web, followSymlinks: false }, index: 'index.html' });
  let streams: { at: number; body: Promise<string> } | undefined;
  endpoints.set('api/streams', async () => {
    if (streams === undefined || Date.now() - streams.at > STREAMS_TTL_MS) {
      const list = root === undefined ? Promise.resolve([]) : listStreams(root, manifest?.catalogue()?.assets);
      streams = { at: Date.now(), body: list.then((s) => JSON.stringify({ streams: s })) };
    }
    return { status: 200, contentType: 'application/json', body: await streams.body };
  });
  return mounts;
}
