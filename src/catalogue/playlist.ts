/**
 * Parse an HLS playlist with hls-parser and normalise it into a small, structured-clone-safe
 * `ParsedPlaylist`. Runs inside the worker pool (workers/hash.ts, task `parse`) and directly in
 * tests. Pure: no file-system access.
 */
import * as HLS from 'hls-parser';
import type { Byterange, ParsedPlaylist, RenditionInfo, SegmentInfo } from './types.js';
import type { PlaylistFacts } from '../http/cache-control.js';

HLS.setOptions({ strictMode: false, silent: false });

export function isPlaylistPath(rel: string): boolean {
  return rel.toLowerCase().endsWith('.m3u8');
}

/**
 * A text field, or undefined when it is missing or empty: hls-parser leaves a URI undefined when
 * its line or attribute is missing, though its types say string.
 */
function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** A numeric attribute JSON can carry: hls-parser reads garbage as 0 but 1e400 as Infinity. */
function finite(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** `{ key: v }`, or nothing when v is absent, to spread into an optional field. */
function some<K extends string, V>(key: K, v: V | undefined): { [P in K]?: V } {
  return (v === undefined ? {} : { [key]: v }) as { [P in K]?: V };
}

function normRange(r: { length: number; offset: number } | undefined | null): Byterange | undefined {
  if (!r || typeof r.length !== 'number') return undefined;
  return typeof r.offset === 'number' && r.offset >= 0 ? { length: r.length, offset: r.offset } : { length: r.length };
}

/** Parser diagnostics we re-check ourselves with better messages, or that carry no information. */
const DUPLICATE_DIAGNOSTICS = [
  /EXTINF duration/,
  /offset of EXT-X-BYTERANGE/,
  /EXT-X-TARGETDURATION tag is REQUIRED/,
  /EXTM3U tag MUST be the first line/,
  /^Param Check : Failed/,
];

/** Minimal HLS attribute-list parser (KEY=value,KEY="quoted, value"). */
export function parseAttributeList(s: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /([A-Z0-9-]+)=("([^"]*)"|[^,]*)(?:,|$)/gy;
  const t = s.trim();
  let m: RegExpExecArray | null;
  while ((m = re.exec(t)) !== null) out.set(m[1]!, m[3] ?? m[2]!); // a match is never empty: no endless loop
  return out;
}

type Parsed = HLS.types.MasterPlaylist | HLS.types.MediaPlaylist;

/**
 * hls-parser reports problems through console.error; capture them as data instead of letting
 * them reach stderr as unstructured lines. The first line must be #EXTM3U (checked here, since
 * the parser accepts anything in its lenient mode).
 */
function parseQuietly(text: string): { parsed?: Parsed; error?: { code: 'not-playlist' | 'parse'; message: string }; raw: string[] } {
  const first = text.split(/\r?\n/, 1)[0]!.trim(); // trim() also drops a UTF-8 BOM, as hls-parser does
  if (first !== '#EXTM3U') return { error: { code: 'not-playlist', message: 'not an HLS playlist: the first line must be #EXTM3U' }, raw: [] };
  const raw: string[] = [];
  const origError = console.error;
  console.error = (...args: unknown[]) => raw.push(args.map(String).join(' '));
  try {
    return { parsed: HLS.parse(text) as Parsed, raw };
  } catch (err) {
    return { error: { code: 'parse', message: `playlist does not parse: ${(err as Error).message}` }, raw };
  } finally {
    console.error = origError;
  }
}

/**
 * The cheap reading the server needs for its cache policy (master or media, ENDLIST, target
 * duration), with the first problem found, if any, for its log.
 */
export function readPlaylistFacts(text: string): { facts: PlaylistFacts | undefined; problem: string | undefined } {
  const { parsed, error, raw } = parseQuietly(text);
  const problem = error?.message ?? raw[0]?.replace(/^Invalid Playlist : /, '');
  if (parsed === undefined) return { facts: undefined, problem };
  if (parsed.isMasterPlaylist) return { facts: { master: true, endList: false }, problem };
  return { facts: { master: false, endList: parsed.endlist, targetDuration: parsed.targetDuration }, problem };
}

export function parsePlaylistText(text: string, path: string): ParsedPlaylist {
  const { parsed, error, raw } = parseQuietly(text);
  if (parsed === undefined) {
    return { kind: 'invalid', path, code: error!.code, error: error!.message, diagnostics: [...new Set(raw)] };
  }
  const diagnostics = [...new Set(raw)].filter((m) => !DUPLICATE_DIAGNOSTICS.some((re) => re.test(m)));

  if (parsed.isMasterPlaylist) {
    const m = parsed;
    const renditions: RenditionInfo[] = [];
    const seen = new Set<string>();
    for (const v of m.variants) {
      for (const r of [...v.audio, ...v.video, ...v.subtitles, ...v.closedCaptions]) {
        const key = `${r.type}\u0000${r.groupId}\u0000${r.name}`;
        if (seen.has(key)) continue;
        seen.add(key);
        renditions.push({
          type: String(r.type),
          groupId: String(r.groupId ?? ''),
          name: String(r.name ?? ''),
          ...some('language', str(r.language)),
          ...some('uri', str(r.uri)),
        });
      }
    }
    // hls-parser only exposes EXT-X-MEDIA renditions through the variants that reference their
    // group; pick up the others from the text so their URIs are checked too.
    for (const m of text.matchAll(/^#EXT-X-MEDIA:(.*)$/gm)) {
      const a = parseAttributeList(m[1]!);
      const type = a.get('TYPE');
      const groupId = a.get('GROUP-ID');
      const name = a.get('NAME');
      if (!type || groupId === undefined || name === undefined) continue;
      const key = `${type}\u0000${groupId}\u0000${name}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const language = a.get('LANGUAGE');
      const uri = a.get('URI');
      renditions.push({ type, groupId, name, ...some('language', str(language)), ...some('uri', str(uri)) });
    }
    return {
      kind: 'master',
      path,
      diagnostics,
      variants: m.variants.map((v) => ({
        uri: str(v.uri) ?? '',
        isIFrameOnly: Boolean(v.isIFrameOnly),
        ...some('bandwidth', finite(v.bandwidth)),
        ...some('averageBandwidth', finite(v.averageBandwidth)),
        ...some('codecs', str(v.codecs)),
        ...some('resolution', v.resolution && { width: v.resolution.width, height: v.resolution.height }),
        ...some('frameRate', finite(v.frameRate)),
      })),
      renditions,
      sessionKeys: m.sessionKeyList.map((k) => ({ method: String(k.method), ...some('uri', str(k.uri)) })),
    };
  }

  const p = parsed;
  const segments: SegmentInfo[] = p.segments.map((s) => {
    const seg: SegmentInfo = { uri: str(s.uri) ?? '', duration: s.duration };
    const br = normRange(s.byterange);
    if (br) seg.byterange = br;
    if (s.map) {
      const mbr = normRange(s.map.byterange as { length: number; offset: number } | undefined);
      seg.map = { ...some('uri', str(s.map.uri)), ...some('byterange', mbr) };
    }
    if (s.key && s.key.method && s.key.method !== 'NONE') {
      seg.key = { method: String(s.key.method), ...some('uri', str(s.key.uri)) };
    }
    if (s.gap) seg.gap = true;
    if (s.parts?.length) {
      seg.parts = s.parts.map((part) => ({
        uri: str(part.uri) ?? '',
        ...some('byterange', normRange(part.byterange as { length: number; offset: number } | undefined)),
        ...some('hint', part.hint ? (true as const) : undefined),
      }));
    }
    return seg;
  });
  return {
    kind: 'media',
    path,
    diagnostics,
    ...some('targetDuration', finite(p.targetDuration)),
    ...some('version', finite(p.version)),
    endlist: Boolean(p.endlist),
    ...some('playlistType', str(p.playlistType)),
    isIFrame: Boolean(p.isIFrame),
    segments,
  };
}
