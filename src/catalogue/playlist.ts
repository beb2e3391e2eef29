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

/** hls-parser may hand back non-strings (null, numbers) for odd input; keep strings only. */
function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : v === undefined || v === null ? undefined : String(v);
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
  while ((m = re.exec(t)) !== null && m[0] !== '') out.set(m[1]!, m[3] ?? m[2]!);
  return out;
}

type Parsed = HLS.types.MasterPlaylist | HLS.types.MediaPlaylist;

/**
 * hls-parser reports problems through console.error; capture them as data instead of letting
 * them reach stderr as unstructured lines. The first line must be #EXTM3U (checked here, since
 * the parser accepts anything in its lenient mode).
 */
function parseQuietly(text: string): { parsed?: Parsed; error?: { code: 'not-playlist' | 'parse'; message: string }; raw: string[] } {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // tolerate a UTF-8 BOM
  const first = text.split(/\r?\n/, 1)[0]?.trim() ?? '';
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
          ...(r.language ? { language: r.language } : {}),
          ...(str(r.uri) ? { uri: str(r.uri)! } : {}),
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
      renditions.push({ type, groupId, name, ...(language ? { language } : {}), ...(uri ? { uri } : {}) });
    }
    return {
      kind: 'master',
      path,
      diagnostics,
      variants: m.variants.map((v) => ({
        uri: str(v.uri) ?? '',
        isIFrameOnly: Boolean(v.isIFrameOnly),
        ...(typeof v.bandwidth === 'number' && Number.isFinite(v.bandwidth) ? { bandwidth: v.bandwidth } : {}),
        ...(typeof v.averageBandwidth === 'number' ? { averageBandwidth: v.averageBandwidth } : {}),
        ...(v.codecs ? { codecs: v.codecs } : {}),
        ...(v.resolution ? { resolution: { width: v.resolution.width, height: v.resolution.height } } : {}),
        ...(typeof v.frameRate === 'number' ? { frameRate: v.frameRate } : {}),
      })),
      renditions,
      sessionKeys: m.sessionKeyList.map((k) => ({ method: String(k.method), ...(str(k.uri) ? { uri: str(k.uri)! } : {}) })),
    };
  }

  const p = parsed;
  const segments: SegmentInfo[] = p.segments.map((s) => {
    const seg: SegmentInfo = { uri: str(s.uri) ?? '', duration: s.duration };
    const br = normRange(s.byterange);
    if (br) seg.byterange = br;
    if (s.map) {
      const mbr = normRange(s.map.byterange as { length: number; offset: number } | undefined);
      const mapUri = str(s.map.uri);
      seg.map = { ...(mapUri ? { uri: mapUri } : {}), ...(mbr ? { byterange: mbr } : {}) };
    }
    if (s.key && s.key.method && s.key.method !== 'NONE') {
      const keyUri = str(s.key.uri);
      seg.key = { method: String(s.key.method), ...(keyUri ? { uri: keyUri } : {}) };
    }
    if (s.gap) seg.gap = true;
    if (s.parts?.length) {
      seg.parts = s.parts.map((part) => {
        const pbr = normRange(part.byterange as { length: number; offset: number } | undefined);
        return { uri: str(part.uri) ?? '', ...(pbr ? { byterange: pbr } : {}) };
      });
    }
    return seg;
  });
  // hls-parser leaves targetDuration at its default when the tag is absent; look at the text.
  const hasTarget = /^#EXT-X-TARGETDURATION:/m.test(text);
  return {
    kind: 'media',
    path,
    diagnostics,
    ...(hasTarget && Number.isFinite(p.targetDuration) ? { targetDuration: p.targetDuration } : {}),
    ...(typeof p.version === 'number' ? { version: p.version } : {}),
    endlist: Boolean(p.endlist),
    ...(p.playlistType ? { playlistType: p.playlistType } : {}),
    isIFrame: Boolean(p.isIFrame),
    segments,
  };
}
