// Table-driven tests of the pure catalogue pieces: URI resolution, playlist validation rules,
// CRC32C, manifest shape checks. The playlist reader itself: catalogue-playlist.test.ts.
import { describe, expect, it } from 'vitest';
import { crc32c, crcImplementation } from '../src/catalogue/crc.js';
import { crcHex } from '../src/http/etag.js';
import { crc32cTable as crc32cJs } from '../src/native/fallback.js';
import { catalogueLookup, checkManifestShape, emptyManifest, etagFor, expectationFor, isSafeRelPath, ManifestError, reprDigestFor } from '../src/catalogue/manifest.js';
import { parsePlaylistText } from '../src/catalogue/playlist.js';
import type { Issue, IssueCode, ParsedPlaylist } from '../src/catalogue/types.js';
import { extinfWithinTarget, isFmp4Uri, resolveUri, validatePlaylist, type FileFacts, type ResolvedUri } from '../src/catalogue/validate.js';
import { bytes } from './fixtures/catalogue/lib.js';

describe('resolveUri', () => {
  const cases: Array<[playlist: string, uri: string, expected: ResolvedUri]> = [
    ['a/b/index.m3u8', 'seg1.ts', { kind: 'local', path: 'a/b/seg1.ts', rootRelative: false }],
    ['a/b/index.m3u8', './seg1.ts', { kind: 'local', path: 'a/b/seg1.ts', rootRelative: false }],
    ['a/b/index.m3u8', '../c/seg1.ts', { kind: 'local', path: 'a/c/seg1.ts', rootRelative: false }],
    ['a/b/index.m3u8', '../../seg1.ts', { kind: 'local', path: 'seg1.ts', rootRelative: false }],
    ['a/b/index.m3u8', '../../../etc/passwd', { kind: 'escape' }],
    ['index.m3u8', '../../etc/passwd', { kind: 'escape' }],
    ['index.m3u8', 'x/../../y.ts', { kind: 'escape' }],
    ['a/index.m3u8', '%2e%2e/%2e%2e/etc/passwd', { kind: 'escape' }],
    ['a/index.m3u8', '..%2f..%2fetc/passwd', { kind: 'bad', reason: 'encoded "/", "\\" or NUL in a path segment' }],
    ['a/index.m3u8', '..\\..\\etc\\passwd', { kind: 'bad', reason: 'backslash in URI' }],
    ['a/index.m3u8', 'file:///etc/passwd', { kind: 'bad', reason: 'file: URIs are not allowed' }],
    ['a/index.m3u8', '/movies/x.ts', { kind: 'local', path: 'movies/x.ts', rootRelative: true }],
    ['a/index.m3u8', '/../etc/passwd', { kind: 'escape' }],
    ['a/index.m3u8', 'seg%201.ts?token=abc#t=1', { kind: 'local', path: 'a/seg 1.ts', rootRelative: false }],
    ['a/index.m3u8', 'https://cdn.example.com/x.ts', { kind: 'external', url: 'https://cdn.example.com/x.ts' }],
    ['a/index.m3u8', 'HTTP://cdn.example.com/x.ts', { kind: 'external', url: 'HTTP://cdn.example.com/x.ts' }],
    ['a/index.m3u8', '//cdn.example.com/x.ts', { kind: 'external', url: '//cdn.example.com/x.ts' }],
    ['a/index.m3u8', 'data:text/plain;base64,AAAA', { kind: 'inline', scheme: 'data' }],
    ['a/index.m3u8', 'skd://key-id', { kind: 'inline', scheme: 'skd' }],
    ['a/index.m3u8', 'urn:uuid:1234', { kind: 'other-scheme', scheme: 'urn' }],
    ['a/index.m3u8', '', { kind: 'bad', reason: 'empty URI' }],
    ['a/index.m3u8', 'dir/', { kind: 'bad', reason: 'URI names a directory' }],
    ['a/index.m3u8', '..', { kind: 'bad', reason: 'URI names the catalogue root' }],
    ['a/index.m3u8', 'bad%zz.ts', { kind: 'bad', reason: 'malformed percent-encoding' }],
    ['a/index.m3u8', '.', { kind: 'bad', reason: 'URI names a directory' }],
    ['a/index.m3u8', '/', { kind: 'bad', reason: 'URI names a directory' }],
    ['a/index.m3u8', '?v=2', { kind: 'bad', reason: 'URI has no path' }],
    ['a/index.m3u8', ' seg1.ts ', { kind: 'local', path: 'a/seg1.ts', rootRelative: false }],
    ['a/index.m3u8', 'b/c:d.ts', { kind: 'local', path: 'a/b/c:d.ts', rootRelative: false }], // a colon after a slash is no scheme
  ];
  it.each(cases)('%s + %j', (playlist, uri, expected) => {
    expect(resolveUri(playlist, uri)).toEqual(expected);
  });
});

describe('isFmp4Uri', () => {
  const cases: Array<[string, boolean]> = [
    ['a.m4s', true],
    ['A.MP4', true],
    ['a.cmfv', true],
    ['a.m4s?x=1', true],
    ['a.mp4#t=2', true],
    ['a.ts', false],
    ['a.mp4.ts', false],
    ['a.ts?f=.mp4', false],
  ];
  it.each(cases)('%s → %s', (uri, fmp4) => {
    expect(isFmp4Uri(uri)).toBe(fmp4);
  });
});

describe('EXTINF vs EXT-X-TARGETDURATION (rounded, RFC 8216bis)', () => {
  const cases: Array<[duration: number, target: number, ok: boolean]> = [
    [4, 4, true],
    [4.4, 4, true],
    [4.499, 4, true],
    [4.5, 4, false], // rounds to 5
    [4.6, 4, false],
    [5, 4, false],
    [0.1, 0, true],
    [0.5, 0, false],
    [10.01, 10, true],
  ];
  it.each(cases)('EXTINF %d with TARGETDURATION %d → ok=%s', (d, t, ok) => {
    expect(extinfWithinTarget(d, t)).toBe(ok);
  });
});

// ---- validatePlaylist over parsed text + a file table ----
type Files = Record<string, FileFacts>;
const lookupOf = (files: Files) => (rel: string) => files[rel];
const M = (body: string) => `#EXTM3U\n#EXT-X-VERSION:7\n${body}`;

interface Case {
  name: string;
  path?: string;
  text: string;
  files: Files;
  errors?: IssueCode[];
  warnings?: IssueCode[];
  message?: RegExp;
}

const media4 = (body: string) => M(`#EXT-X-TARGETDURATION:4\n${body}#EXT-X-ENDLIST\n`);
const cases: Case[] = [
  {
    name: 'clean TS media playlist',
    text: media4('#EXTINF:4,\na.ts\n#EXTINF:3.9,\nb.ts\n'),
    files: { 'v/a.ts': { size: 10 }, 'v/b.ts': { size: 10 } },
  },
  {
    name: 'missing segment',
    text: media4('#EXTINF:4,\na.ts\n#EXTINF:4,\nnope.ts\n'),
    files: { 'v/a.ts': { size: 10 } },
    errors: ['missing'],
    message: /"nope\.ts" → v\/nope\.ts: no such file/,
  },
  {
    name: 'EXTINF over target after rounding',
    text: media4('#EXTINF:4.5,\na.ts\n'),
    files: { 'v/a.ts': { size: 10 } },
    errors: ['extinf'],
    message: /EXTINF 4\.5 s rounds to 5 s, over EXT-X-TARGETDURATION 4 s/,
  },
  {
    name: 'EXTINF under target after rounding is fine',
    text: media4('#EXTINF:4.49,\na.ts\n'),
    files: { 'v/a.ts': { size: 10 } },
  },
  {
    name: 'missing EXT-X-TARGETDURATION',
    text: M('#EXTINF:4,\na.ts\n#EXT-X-ENDLIST\n'),
    files: { 'v/a.ts': { size: 10 } },
    errors: ['target-duration'],
  },
  {
    name: 'byte range fits exactly (explicit + implicit offsets)',
    text: media4('#EXTINF:4,\n#EXT-X-BYTERANGE:100@0\nall.ts\n#EXTINF:4,\n#EXT-X-BYTERANGE:50\nall.ts\n#EXTINF:4,\n#EXT-X-BYTERANGE:50\nall.ts\n'),
    files: { 'v/all.ts': { size: 200 } },
  },
  {
    name: 'implicit offset runs past the end',
    text: media4('#EXTINF:4,\n#EXT-X-BYTERANGE:100@0\nall.ts\n#EXTINF:4,\n#EXT-X-BYTERANGE:50\nall.ts\n#EXTINF:4,\n#EXT-X-BYTERANGE:51\nall.ts\n'),
    files: { 'v/all.ts': { size: 200 } },
    errors: ['byterange'],
    message: /bytes 150-200 \(51@150\) extends past the end of v\/all\.ts \(200 bytes\)/,
  },
  {
    name: 'explicit byte range past the end',
    text: media4('#EXTINF:4,\n#EXT-X-BYTERANGE:10@195\nall.ts\n'),
    files: { 'v/all.ts': { size: 200 } },
    errors: ['byterange'],
  },
  {
    name: 'implicit offset after a different resource',
    text: media4('#EXTINF:4,\n#EXT-X-BYTERANGE:10@0\na.ts\n#EXTINF:4,\n#EXT-X-BYTERANGE:10\nb.ts\n'),
    files: { 'v/a.ts': { size: 200 }, 'v/b.ts': { size: 200 } },
    errors: ['byterange'],
    message: /no offset, but the previous segment is not a sub-range of the same resource/,
  },
  {
    name: 'fMP4 without EXT-X-MAP',
    text: media4('#EXTINF:4,\na.m4s\n#EXTINF:4,\nb.m4s\n'),
    files: { 'v/a.m4s': { size: 10 }, 'v/b.m4s': { size: 10 } },
    errors: ['init'],
  },
  {
    name: 'fMP4 with a missing init section',
    text: media4('#EXT-X-MAP:URI="init.mp4"\n#EXTINF:4,\na.m4s\n'),
    files: { 'v/a.m4s': { size: 10 } },
    errors: ['missing'],
    message: /EXT-X-MAP init section #0 "init\.mp4" → v\/init\.mp4: no such file/,
  },
  {
    name: 'MAP BYTERANGE past the end of the init file',
    text: media4('#EXT-X-MAP:URI="init.mp4",BYTERANGE="800@0"\n#EXTINF:4,\na.m4s\n'),
    files: { 'v/a.m4s': { size: 10 }, 'v/init.mp4': { size: 700 } },
    errors: ['byterange'],
  },
  {
    name: 'MAP BYTERANGE without offset starts at 0',
    text: media4('#EXT-X-MAP:URI="init.mp4",BYTERANGE="700"\n#EXTINF:4,\na.m4s\n'),
    files: { 'v/a.m4s': { size: 10 }, 'v/init.mp4': { size: 700 } },
  },
  {
    name: 'segment escaping the root',
    text: media4('#EXTINF:4,\n../../etc/passwd\n'),
    files: {},
    errors: ['escape'],
    message: /resolves outside the catalogue root \(not read\)/,
  },
  {
    name: 'external segment is a warning, aggregated',
    text: media4('#EXTINF:4,\nhttps://cdn.example.com/a.ts\n#EXTINF:4,\nhttps://cdn.example.com/b.ts\n'),
    files: {},
    warnings: ['external'],
    message: /external, not checked: https:\/\/cdn\.example\.com\/a\.ts \(and 1 more\)/,
  },
  {
    name: 'AES-128 key file present; data: and skd: keys skipped',
    text: media4('#EXT-X-KEY:METHOD=AES-128,URI="k.key"\n#EXTINF:4,\na.ts\n#EXT-X-KEY:METHOD=SAMPLE-AES,URI="skd://x",KEYFORMAT="com.apple.streamingkeydelivery"\n#EXTINF:4,\nb.ts\n'),
    files: { 'v/a.ts': { size: 1 }, 'v/b.ts': { size: 1 }, 'v/k.key': { size: 16 } },
  },
  {
    name: 'missing key file',
    text: media4('#EXT-X-KEY:METHOD=AES-128,URI="../keys/k.key"\n#EXTINF:4,\na.ts\n'),
    files: { 'v/a.ts': { size: 1 } },
    errors: ['missing'],
    message: /EXT-X-KEY #0 "\.\.\/keys\/k\.key" → keys\/k\.key/,
  },
  {
    name: 'GAP segment need not exist',
    text: media4('#EXTINF:4,\na.ts\n#EXT-X-GAP\n#EXTINF:4,\ngap.ts\n'),
    files: { 'v/a.ts': { size: 1 } },
  },
  {
    name: 'dotfile target is reported as hidden',
    text: media4('#EXTINF:4,\n.hidden/a.ts\n'),
    files: {},
    errors: ['missing'],
    message: /hidden path/,
  },
  {
    name: 'not a playlist',
    text: 'hello world\n',
    files: {},
    errors: ['not-playlist'],
  },
  // ---- master playlists (path v/master.m3u8 unless stated) ----
  {
    name: 'clean master',
    text: M('#EXT-X-STREAM-INF:BANDWIDTH=1000,CODECS="avc1.4d401e"\nlo/index.m3u8\n'),
    files: { 'v/lo/index.m3u8': { size: 10, playlist: 'media' } },
  },
  {
    name: 'master without BANDWIDTH',
    text: M('#EXT-X-STREAM-INF:CODECS="avc1.4d401e",RESOLUTION=640x360\nlo/index.m3u8\n'),
    files: { 'v/lo/index.m3u8': { size: 10, playlist: 'media' } },
    errors: ['bandwidth'],
    message: /variant #0 "lo\/index\.m3u8": EXT-X-STREAM-INF has no BANDWIDTH \(required\)/,
  },
  {
    name: 'master without CODECS warns',
    text: M('#EXT-X-STREAM-INF:BANDWIDTH=1000\nlo/index.m3u8\n'),
    files: { 'v/lo/index.m3u8': { size: 10, playlist: 'media' } },
    warnings: ['codecs'],
  },
  {
    name: 'variant pointing to a missing playlist',
    text: M('#EXT-X-STREAM-INF:BANDWIDTH=1000,CODECS="avc1.4d401e"\nhi/index.m3u8\n'),
    files: {},
    errors: ['missing'],
  },
  {
    name: 'variant pointing to a non-playlist / a master / an invalid playlist',
    text: M(
      '#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS="a"\nseg.ts\n#EXT-X-STREAM-INF:BANDWIDTH=2,CODECS="a"\nother.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=3,CODECS="a"\nbroken.m3u8\n',
    ),
    files: { 'v/seg.ts': { size: 1 }, 'v/other.m3u8': { size: 1, playlist: 'master' }, 'v/broken.m3u8': { size: 1, playlist: 'invalid' } },
    errors: ['variant', 'variant', 'variant'],
  },
  {
    name: 'audio rendition and I-frame playlist are checked',
    text: M(
      '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="en",URI="audio/missing.m3u8"\n#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS="a",AUDIO="a"\nlo.m3u8\n#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1,CODECS="a",URI="../../iframes.m3u8"\n',
    ),
    files: { 'v/lo.m3u8': { size: 1, playlist: 'media' } },
    errors: ['escape', 'missing'],
  },
];

/** A media playlist as the parser would hand it over, without the parser: any value can be put in. */
const handBuilt = (o: Partial<Extract<ParsedPlaylist, { kind: 'media' }>>): ParsedPlaylist => ({
  kind: 'media',
  path: 'p.m3u8',
  diagnostics: [],
  targetDuration: 6,
  endlist: true,
  isIFrame: false,
  segments: [{ uri: 'f.ts', duration: 6 }],
  ...o,
});

describe('validatePlaylist', () => {
  it.each(cases)('$name', (c) => {
    const path = c.path ?? (c.text.includes('STREAM-INF') ? 'v/master.m3u8' : 'v/index.m3u8');
    const rec = validatePlaylist(parsePlaylistText(c.text, path), lookupOf(c.files));
    expect(rec.errors.map((i) => i.code).sort()).toEqual([...(c.errors ?? [])].sort());
    // parser diagnostics are warnings too; only compare ours
    expect(rec.warnings.filter((i) => i.code !== 'parser').map((i) => i.code).sort()).toEqual([...(c.warnings ?? [])].sort());
    for (const i of [...rec.errors, ...rec.warnings]) expect(i.asset).toBe(path);
    if (c.message) expect([...rec.errors, ...rec.warnings].map((i) => i.message).join('\n')).toMatch(c.message);
  });

  it('builds summaries: duration, segment count, bytes incl. one init section, refs', () => {
    const text = media4('#EXT-X-MAP:URI="init.mp4"\n#EXTINF:4,\n#EXT-X-BYTERANGE:100@0\nm.mp4\n#EXTINF:2.5,\n#EXT-X-BYTERANGE:100\nm.mp4\n');
    const rec = validatePlaylist(parsePlaylistText(text, 'x/i.m3u8'), lookupOf({ 'x/m.mp4': { size: 200 }, 'x/init.mp4': { size: 50 } }));
    expect(rec.errors).toEqual([]);
    expect(rec.media).toMatchObject({ duration: 6.5, segments: 2, bytes: 250, fmp4: true, targetDuration: 4, endlist: true });
    expect(rec.refs).toEqual(['x/init.mp4', 'x/m.mp4']);
  });

  it('hand-built ParsedPlaylist (no parser involved)', () => {
    const p = handBuilt({
      segments: [
        { uri: 'f.ts', duration: 6, byterange: { length: 10, offset: 5 } },
        { uri: 'f.ts', duration: 6.6, byterange: { length: 10 } },
      ],
    });
    const rec = validatePlaylist(p, lookupOf({ 'f.ts': { size: 24 } }));
    expect(rec.errors.map((e) => e.code).sort()).toEqual(['byterange', 'extinf']);
    expect(rec.errors.find((e) => e.code === 'byterange')!.index).toBe(1);
  });
});

// Each check of a media playlist on its own, on hand-built input: the parser rounds or drops
// some of these values before the checks would see them, so text cases alone leave edges untested.
describe('single checks of a media playlist', () => {
  const seg = (duration: number, byterange?: { length: number; offset?: number }) => ({ uri: 'f.ts', duration, ...(byterange ? { byterange } : {}) });
  const files = lookupOf({ 'f.ts': { size: 100 } });
  const rows: [string, ParsedPlaylist, string | undefined][] = [
    ['target duration 0 is an integer', handBuilt({ targetDuration: 0, segments: [] }), undefined],
    ['a 1 s segment under a target of 0', handBuilt({ targetDuration: 0, segments: [seg(1)] }), 'extinf: segment #0 "f.ts": EXTINF 1 s rounds to 1 s, over EXT-X-TARGETDURATION 0 s'],
    ['target duration 4.5', handBuilt({ targetDuration: 4.5 }), 'target-duration: EXT-X-TARGETDURATION 4.5 is not a decimal integer'],
    // One error, not a second one per segment measured against a target that is not one.
    ['target duration -1', handBuilt({ targetDuration: -1 }), 'target-duration: EXT-X-TARGETDURATION -1 is not a decimal integer'],
    ['EXTINF 0', handBuilt({ segments: [seg(0)] }), undefined],
    ['EXTINF -1', handBuilt({ segments: [seg(-1)] }), 'extinf: segment #0 "f.ts": invalid EXTINF duration -1'],
    ['EXTINF NaN', handBuilt({ segments: [seg(NaN)] }), 'extinf: segment #0 "f.ts": invalid EXTINF duration NaN'],
    ['EXTINF Infinity', handBuilt({ segments: [seg(Infinity)] }), 'extinf: segment #0 "f.ts": invalid EXTINF duration Infinity'],
    ['a range to the last byte', handBuilt({ segments: [seg(6, { length: 60, offset: 40 })] }), undefined],
    ['a range one byte past the end', handBuilt({ segments: [seg(6, { length: 61, offset: 40 })] }), 'byterange: segment #0 "f.ts": bytes 40-100 (61@40) extends past the end of f.ts (100 bytes)'],
    ['a negative length', handBuilt({ segments: [seg(6, { length: -1, offset: 0 })] }), 'byterange: segment #0 "f.ts": invalid byte range -1@0'],
    ['a zero length', handBuilt({ segments: [seg(6, { length: 0, offset: 5 })] }), 'byterange: segment #0 "f.ts": invalid byte range 0@5'],
    ['a negative offset', handBuilt({ segments: [seg(6, { length: 1, offset: -1 })] }), 'byterange: segment #0 "f.ts": invalid byte range 1@-1'],
    ['a fractional length', handBuilt({ segments: [seg(6, { length: 1.5, offset: 0 })] }), 'byterange: segment #0 "f.ts": invalid byte range 1.5@0'],
    ['an offset past 2^53', handBuilt({ segments: [seg(6, { length: 1, offset: 2 ** 53 })] }), `byterange: segment #0 "f.ts": invalid byte range 1@${2 ** 53}`],
    ['an implicit offset after a sub-range of the same file', handBuilt({ segments: [seg(3, { length: 50, offset: 0 }), seg(3, { length: 50 })] }), undefined],
    ['an implicit offset running past the end', handBuilt({ segments: [seg(3, { length: 60, offset: 0 }), seg(3, { length: 50 })] }), 'byterange: segment #1 "f.ts": bytes 60-109 (50@60) extends past the end of f.ts (100 bytes)'],
  ];
  it.each(rows)('%s', (_name, p, expected) => {
    const rec = validatePlaylist(p, files);
    expect(rec.errors.map((i) => `${i.code}: ${i.message}`)).toEqual(expected === undefined ? [] : [expected]);
    for (const i of rec.errors) if (i.code !== 'target-duration') expect(i).toMatchObject({ uri: 'f.ts', index: expected!.includes('#1') ? 1 : 0 });
  });
});

// Whole records on hand-built input: every issue with its message, URI, index and target, and the
// summary, so a check that reports the wrong field, twice, or not at all shows.
describe('whole validation records', () => {
  const strip = (issues: Issue[], severity: Issue['severity'], asset: string) =>
    issues.map(({ severity: s, asset: a, ...rest }) => {
      expect([s, a]).toEqual([severity, asset]);
      return rest;
    });

  it('a master: each kind of bad reference once, root-relative warned once, externals summed up', () => {
    const ok = { bandwidth: 1, codecs: 'c' };
    const p: ParsedPlaylist = {
      kind: 'master',
      path: 'v/m.m3u8',
      diagnostics: ['odd', 'odd'],
      variants: [
        { uri: 'lo.m3u8', isIFrameOnly: false },
        { uri: '/v/hi.m3u8', isIFrameOnly: false, bandwidth: 9, averageBandwidth: 8, codecs: 'c', resolution: { width: 4, height: 2 }, frameRate: 30 },
        { uri: '/v/hi.m3u8', isIFrameOnly: true, ...ok },
        { uri: 'master.m3u8', isIFrameOnly: false, ...ok },
        { uri: 'bad.m3u8', isIFrameOnly: false, ...ok },
        { uri: 'seg.ts', isIFrameOnly: false, ...ok },
        { uri: '.hidden/x.m3u8', isIFrameOnly: false, ...ok },
        { uri: '../../up.m3u8', isIFrameOnly: false, ...ok },
        { uri: 'http://cdn/a.m3u8', isIFrameOnly: false, ...ok },
        { uri: 'https://cdn/b.m3u8', isIFrameOnly: false, ...ok },
        { uri: 'urn:x', isIFrameOnly: false, ...ok },
        { uri: '', isIFrameOnly: false, ...ok },
        { uri: 'http://cdn/a.m3u8', isIFrameOnly: false, ...ok }, // counted once among the externals
        { uri: 'lo.m3u8', isIFrameOnly: true },
        { uri: 'a\\b.m3u8', isIFrameOnly: false, ...ok },
      ],
      renditions: [
        { type: 'AUDIO', groupId: 'a', name: 'en', language: 'en', uri: 'en.m3u8' },
        { type: 'AUDIO', groupId: 'a', name: 'fr' },
        { type: 'SUBTITLES', groupId: 's', name: 'de', uri: 'missing.m3u8' },
        { type: 'VIDEO', groupId: 'v', name: 'alt', uri: 'master.m3u8' },
      ],
      sessionKeys: [{ method: 'AES-128', uri: 'k.key' }, { method: 'AES-128' }, { method: 'AES-128', uri: 'gone.key' }],
    };
    const files = lookupOf({
      'v/lo.m3u8': { size: 5, playlist: 'media' },
      'v/hi.m3u8': { size: 5, playlist: 'media' },
      'v/master.m3u8': { size: 5, playlist: 'master' },
      'v/bad.m3u8': { size: 5, playlist: 'invalid' },
      'v/seg.ts': { size: 1 },
      'v/en.m3u8': { size: 5, playlist: 'media' },
      'v/k.key': { size: 16 },
    });
    const rec = validatePlaylist(p, files);
    expect(strip(rec.errors, 'error', 'v/m.m3u8')).toStrictEqual([
      { code: 'bandwidth', message: 'variant #0 "lo.m3u8": EXT-X-STREAM-INF has no BANDWIDTH (required)', uri: 'lo.m3u8', index: 0 },
      { code: 'variant', message: 'variant #3 "master.m3u8" → v/master.m3u8 is a master playlist; a media playlist is required', uri: 'master.m3u8', index: 3, target: 'v/master.m3u8' },
      { code: 'variant', message: 'variant #4 "bad.m3u8" → v/bad.m3u8 is not a valid playlist (see its own errors)', uri: 'bad.m3u8', index: 4, target: 'v/bad.m3u8' },
      { code: 'variant', message: 'variant #5 "seg.ts" → v/seg.ts is not a playlist (.m3u8)', uri: 'seg.ts', index: 5, target: 'v/seg.ts' },
      { code: 'missing', message: 'variant #6 ".hidden/x.m3u8" → v/.hidden/x.m3u8: hidden path (dotfiles are not indexed or served)', uri: '.hidden/x.m3u8', index: 6, target: 'v/.hidden/x.m3u8' },
      { code: 'escape', message: 'variant #7 "../../up.m3u8" resolves outside the catalogue root (not read)', uri: '../../up.m3u8', index: 7 },
      { code: 'bad-uri', message: 'variant #11 has no URI', index: 11 },
      { code: 'bandwidth', message: 'I-frame variant #13 "lo.m3u8": EXT-X-I-FRAME-STREAM-INF has no BANDWIDTH (required)', uri: 'lo.m3u8', index: 13 },
      { code: 'bad-uri', message: 'variant #14 "a\\b.m3u8": backslash in URI', uri: 'a\\b.m3u8', index: 14 },
      { code: 'missing', message: 'EXT-X-MEDIA SUBTITLES rendition "de" #2 "missing.m3u8" → v/missing.m3u8: no such file', uri: 'missing.m3u8', index: 2, target: 'v/missing.m3u8' },
      { code: 'variant', message: 'rendition #3 "master.m3u8" → v/master.m3u8 is a master playlist; a media playlist is required', uri: 'master.m3u8', index: 3, target: 'v/master.m3u8' },
      { code: 'missing', message: 'EXT-X-SESSION-KEY #2 "gone.key" → v/gone.key: no such file', uri: 'gone.key', index: 2, target: 'v/gone.key' },
    ]);
    expect(strip(rec.warnings, 'warning', 'v/m.m3u8')).toStrictEqual([
      { code: 'parser', message: 'hls-parser: odd' },
      { code: 'codecs', message: 'variant #0 "lo.m3u8": EXT-X-STREAM-INF has no CODECS (players must guess; add it)', uri: 'lo.m3u8', index: 0 },
      { code: 'root-relative', message: 'variant #1 "/v/hi.m3u8" starts with "/": resolved against the catalogue root, correct only if the catalogue is served at "/"', uri: '/v/hi.m3u8', index: 1 },
      { code: 'scheme', message: 'variant #10 "urn:x": urn: URI, not checked', uri: 'urn:x', index: 10 },
      { code: 'codecs', message: 'I-frame variant #13 "lo.m3u8": EXT-X-I-FRAME-STREAM-INF has no CODECS (players must guess; add it)', uri: 'lo.m3u8', index: 13 },
      { code: 'external', message: 'external, not checked: http://cdn/a.m3u8 (and 1 more)', uri: 'http://cdn/a.m3u8' },
    ]);
    expect(rec.refs).toEqual(['v/bad.m3u8', 'v/en.m3u8', 'v/hi.m3u8', 'v/k.key', 'v/lo.m3u8', 'v/master.m3u8', 'v/seg.ts']);
    const tail = { bandwidth: 1, codecs: 'c' };
    expect(rec.master).toStrictEqual({
      variants: [
        { uri: 'lo.m3u8', path: 'v/lo.m3u8', iframe: false },
        { uri: '/v/hi.m3u8', path: 'v/hi.m3u8', iframe: false, bandwidth: 9, averageBandwidth: 8, codecs: 'c', resolution: '4x2', frameRate: 30 },
        { uri: '/v/hi.m3u8', path: 'v/hi.m3u8', iframe: true, ...tail },
        { uri: 'master.m3u8', path: 'v/master.m3u8', iframe: false, ...tail },
        { uri: 'bad.m3u8', path: 'v/bad.m3u8', iframe: false, ...tail },
        { uri: 'seg.ts', path: 'v/seg.ts', iframe: false, ...tail },
        ...['.hidden/x.m3u8', '../../up.m3u8', 'http://cdn/a.m3u8', 'https://cdn/b.m3u8', 'urn:x', '', 'http://cdn/a.m3u8'].map((uri) => ({ uri, iframe: false, ...tail })),
        { uri: 'lo.m3u8', path: 'v/lo.m3u8', iframe: true },
        { uri: 'a\\b.m3u8', iframe: false, ...tail },
      ],
      renditions: [
        { type: 'AUDIO', groupId: 'a', name: 'en', language: 'en', uri: 'en.m3u8', path: 'v/en.m3u8' },
        { type: 'AUDIO', groupId: 'a', name: 'fr' },
        { type: 'SUBTITLES', groupId: 's', name: 'de', uri: 'missing.m3u8' },
        { type: 'VIDEO', groupId: 'v', name: 'alt', uri: 'master.m3u8', path: 'v/master.m3u8' },
      ],
    });
    expect(rec.media).toBeUndefined();
  });

  it('a media playlist: keys, maps, implicit ranges, GAP, parts; each init section counted once', () => {
    const p: ParsedPlaylist = {
      kind: 'media',
      path: 'v/i.m3u8',
      diagnostics: [],
      targetDuration: 4,
      endlist: false,
      playlistType: 'EVENT',
      isIFrame: false,
      segments: [
        { uri: 'a.ts', duration: 4, key: { method: 'AES-128' } },
        { uri: 'b.ts', duration: 4.4, key: { method: 'AES-128' }, byterange: { length: 10 } },
        { uri: 'x.m4s', duration: 1, gap: true },
        { uri: 'y.m4s', duration: 1 },
        { uri: 'm.mp4', duration: 1, map: { uri: 'init.mp4', byterange: { length: 10 } }, byterange: { length: 100, offset: 0 } },
        { uri: 'm.mp4', duration: 1, map: { uri: 'init.mp4', byterange: { length: 10 } }, byterange: { length: 100 } },
        { uri: 'm.mp4', duration: 1, map: { uri: 'init.mp4' }, key: { method: 'AES-128', uri: 'k.key' } },
        { uri: 'http://cdn/z.ts', duration: 2.0004, parts: [{ uri: 'p.m4s', byterange: { length: 40, offset: 1 } }, { uri: 'p.m4s', byterange: { length: 5 } }, { uri: 'q.m4s' }] },
      ],
    };
    const files = lookupOf({ 'v/a.ts': { size: 100 }, 'v/b.ts': { size: 100 }, 'v/m.mp4': { size: 300 }, 'v/init.mp4': { size: 50 }, 'v/k.key': { size: 16 }, 'v/p.m4s': { size: 40 } });
    const rec = validatePlaylist(p, files);
    expect(strip(rec.errors, 'error', 'v/i.m3u8')).toStrictEqual([
      { code: 'bad-uri', message: 'segment #0 "a.ts": EXT-X-KEY METHOD=AES-128 without URI', index: 0 },
      { code: 'byterange', message: 'segment #1 "b.ts": EXT-X-BYTERANGE 10 has no offset, but the previous segment is not a sub-range of the same resource', uri: 'b.ts', index: 1 },
      { code: 'init', message: 'segment #2 "x.m4s": fMP4 segment without an EXT-X-MAP init section', uri: 'x.m4s', index: 2 },
      { code: 'missing', message: 'segment #3 "y.m4s" → v/y.m4s: no such file', uri: 'y.m4s', index: 3, target: 'v/y.m4s' },
      { code: 'byterange', message: 'partial segment #7 "p.m4s": bytes 1-40 (40@1) extends past the end of v/p.m4s (40 bytes)', uri: 'p.m4s', index: 7, target: 'v/p.m4s' },
      { code: 'missing', message: 'partial segment #7 "q.m4s" → v/q.m4s: no such file', uri: 'q.m4s', index: 7, target: 'v/q.m4s' },
    ]);
    expect(strip(rec.warnings, 'warning', 'v/i.m3u8')).toStrictEqual([{ code: 'external', message: 'external, not checked: http://cdn/z.ts', uri: 'http://cdn/z.ts' }]);
    expect(rec.refs).toEqual(['v/a.ts', 'v/b.ts', 'v/init.mp4', 'v/k.key', 'v/m.mp4', 'v/p.m4s']);
    // a.ts 100, m.mp4 100 + 100 + 300, init.mp4 10 (ranged) + 50 (whole); b.ts has no usable range.
    expect(rec.media).toStrictEqual({ targetDuration: 4, duration: 15.4, segments: 8, bytes: 660, endlist: false, playlistType: 'EVENT', iframe: false, fmp4: true, encrypted: true });
    expect(rec.master).toBeUndefined();
  });

  it('LL-HLS: the segment still being made is not counted, only its parts are checked, and a preload hint is not looked for', () => {
    const text = '#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:2\n#EXT-X-PART-INF:PART-TARGET=1\n#EXT-X-MAP:URI="i.mp4"\n#EXTINF:2,\nr.m4s\n#EXTINF:2,\ns.m4s\n#EXT-X-PART:DURATION=1,URI="n.m4s"\n#EXT-X-PART:DURATION=1,URI="gone.m4s"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI="n2.m4s"\n';
    const rec = validatePlaylist(parsePlaylistText(text, 'l/i.m3u8'), lookupOf({ 'l/r.m4s': { size: 9 }, 'l/s.m4s': { size: 9 }, 'l/n.m4s': { size: 3 }, 'l/i.mp4': { size: 1 } }));
    expect(strip(rec.errors, 'error', 'l/i.m3u8')).toStrictEqual([
      { code: 'missing', message: 'partial segment #2 "gone.m4s" → l/gone.m4s: no such file', uri: 'gone.m4s', index: 2, target: 'l/gone.m4s' },
    ]);
    expect(rec.refs).toEqual(['l/i.mp4', 'l/n.m4s', 'l/r.m4s', 'l/s.m4s']);
    expect(rec.media).toMatchObject({ segments: 2, duration: 4, bytes: 19 });
    // Only the last one is pending, and only with parts: a segment without URI elsewhere is reported.
    const p = handBuilt({ segments: [{ uri: '', duration: 2, parts: [] }, { uri: 'f.ts', duration: 2 }, { uri: '', duration: 2 }] });
    expect(validatePlaylist(p, lookupOf({ 'f.ts': { size: 1 } })).errors.map((e) => e.message)).toEqual(['segment #0 has no URI', 'segment #2 has no URI']);
  });

  it('init sections: one per file and range, a MAP without URI reported once per problem', () => {
    const p = handBuilt({
      segments: [
        { uri: 'a.m4s', duration: 1, map: { uri: 'i.mp4', byterange: { length: 10, offset: 0 } } },
        { uri: 'a.m4s', duration: 1, map: { uri: 'i.mp4', byterange: { length: 10 } } }, // offset 0 too: the same section
        { uri: 'a.m4s', duration: 1, map: { uri: 'i.mp4', byterange: { length: 20, offset: 0 } } },
        { uri: 'c.m4s', duration: 1, map: { byterange: { length: -1 } } },
        { uri: 'c.m4s', duration: 1, map: { uri: 'i.mp4', byterange: { length: 101, offset: 0 } } }, // past the end: not counted
      ],
    });
    const rec = validatePlaylist(p, lookupOf({ 'a.m4s': { size: 5 }, 'c.m4s': { size: 5 }, 'i.mp4': { size: 100 } }));
    expect(strip(rec.errors, 'error', 'p.m3u8')).toStrictEqual([
      { code: 'bad-uri', message: 'EXT-X-MAP init section #3 has no URI', index: 3 },
      { code: 'byterange', message: 'EXT-X-MAP init section #3 "": invalid byte range -1@0', uri: '', index: 3 },
      { code: 'byterange', message: 'EXT-X-MAP init section #4 "i.mp4": bytes 0-100 (101@0) extends past the end of i.mp4 (100 bytes)', uri: 'i.mp4', index: 4, target: 'i.mp4' },
    ]);
    expect(rec.media).toStrictEqual({ targetDuration: 6, duration: 5, segments: 5, bytes: 5 * 5 + 10 + 20, endlist: true, iframe: false, fmp4: true, encrypted: false });
  });

  it.each([
    ['MPEG-TS only', [{ uri: 'f.ts', duration: 3 }], false, []],
    ['an fMP4 segment without a MAP', [{ uri: 'f.m4s', duration: 3 }], true, ['init']],
    ['MPEG-TS with a MAP', [{ uri: 'f.ts', duration: 3, map: { uri: 'f.ts', byterange: { length: 1, offset: 0 } } }], false, []],
    ['segments without extension, an MP4 init section', [{ uri: 'f', duration: 3, map: { uri: 'f.m4s', byterange: { length: 1, offset: 0 } } }], true, []],
  ] as const)('fmp4 in the summary: %s', (_name, segments, fmp4, errors) => {
    const rec = validatePlaylist(handBuilt({ segments: segments.map((x) => ({ ...x })) }), lookupOf({ 'f.ts': { size: 7 }, 'f.m4s': { size: 7 }, f: { size: 7 } }));
    expect(rec.errors.map((e) => e.code)).toEqual(errors);
    expect(rec.media?.fmp4).toBe(fmp4);
  });

  it('no target duration: said once, and the summary has none', () => {
    const rec = validatePlaylist(handBuilt({ targetDuration: undefined, segments: [{ uri: 'f.ts', duration: 3 }] }), lookupOf({ 'f.ts': { size: 7 } }));
    expect(strip(rec.errors, 'error', 'p.m3u8')).toStrictEqual([{ code: 'target-duration', message: 'EXT-X-TARGETDURATION is missing (required in every media playlist)' }]);
    expect(rec.media).toStrictEqual({ duration: 3, segments: 1, bytes: 7, endlist: true, iframe: false, fmp4: false, encrypted: false });
  });

  it('an invalid playlist: its error and the parser’s lines, nothing else', () => {
    const rec = validatePlaylist({ kind: 'invalid', path: 'x.m3u8', code: 'parse', error: 'playlist does not parse: boom', diagnostics: ['a'] }, lookupOf({}));
    expect(rec).toStrictEqual({
      kind: 'invalid',
      errors: [{ severity: 'error', code: 'parse', asset: 'x.m3u8', message: 'playlist does not parse: boom' }],
      warnings: [{ severity: 'warning', code: 'parser', asset: 'x.m3u8', message: 'hls-parser: a' }],
      refs: [],
    });
  });
});

describe('parsePlaylistText then validatePlaylist', () => {
  it('keeps EXT-X-MEDIA renditions no variant references (their URIs are checked too)', () => {
    const p = parsePlaylistText(
      M('#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="Deutsch, DE",LANGUAGE="de",URI="subs/de.m3u8"\r\n#EXT-X-STREAM-INF:BANDWIDTH=5,CODECS="c"\r\nv.m3u8\r\n'),
      'm.m3u8',
    );
    expect(p.kind === 'master' && p.renditions).toEqual([{ type: 'SUBTITLES', groupId: 'subs', name: 'Deutsch, DE', language: 'de', uri: 'subs/de.m3u8' }]);
    const rec = validatePlaylist(p, lookupOf({ 'v.m3u8': { size: 1, playlist: 'media' } }));
    expect(rec.errors.map((e) => [e.code, e.target])).toEqual([['missing', 'subs/de.m3u8']]);
  });
});

describe('robustness', () => {
  it('never throws on mangled playlists (parse → validate), output stays structured-clone-able', () => {
    const parts = [
      '#EXT-X-STREAM-INF:BANDWIDTH=1', '#EXT-X-STREAM-INF:', '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1', '#EXT-X-MEDIA:TYPE=AUDIO',
      '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="n",URI="../../x.m3u8"', '#EXT-X-TARGETDURATION:x', '#EXT-X-TARGETDURATION:4',
      '#EXTINF:', '#EXTINF:abc,', '#EXTINF:4,', '#EXT-X-BYTERANGE:', '#EXT-X-BYTERANGE:10@x', '#EXT-X-BYTERANGE:5',
      '#EXT-X-MAP:', '#EXT-X-MAP:URI="i.mp4",BYTERANGE="x"', '#EXT-X-KEY:METHOD=AES-128', '#EXT-X-KEY:METHOD=NONE',
      '#EXT-X-PART:DURATION=1,URI="p.m4s"', '#EXT-X-ENDLIST', '#EXT-X-VERSION:99', '#EXT-X-DISCONTINUITY', '#EXT-X-GAP',
      'a.ts', 'a.m4s', '../../etc/passwd', 'http://x/y.ts', '%zz', '', '#', 'garbage',
    ];
    let seed = 12345;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % n;
    for (let i = 0; i < 400; i++) {
      const lines = ['#EXTM3U'];
      for (let k = rnd(12); k >= 0; k--) lines.push(parts[rnd(parts.length)]!);
      const text = lines.join(rnd(2) ? '\n' : '\r\n');
      const p = parsePlaylistText(text, 'd/p.m3u8');
      const rec = validatePlaylist(structuredClone(p), () => ({ size: 7, playlist: 'media' }));
      expect(() => structuredClone(rec)).not.toThrow();
      expect(['master', 'media', 'invalid']).toContain(rec.kind);
    }
  });
});

describe('CRC32C', () => {
  it('check value and streaming, native vs portable JS', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32cJs(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crcHex(0x0000abcd)).toBe('0000abcd');
    const data = bytes(100_003, 7);
    const whole = crc32cJs(data);
    expect(crc32c(data)).toBe(whole);
    expect(crc32c(data.subarray(37_001), crc32c(data.subarray(0, 37_001)))).toBe(whole);
    expect(crc32cJs(data.subarray(5), crc32cJs(data.subarray(0, 5)))).toBe(whole);
    expect(crcImplementation()).toMatch(/^(addon|fallback)\//);
  });
});

describe('manifest shape', () => {
  const good = () => {
    const m = emptyManifest(1_700_000_000_000);
    m.entries['a/b.ts'] = { size: 3, mtimeMs: 1.5, crc32c: '0a0b0c0d', sha256: 'ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=' };
    return m;
  };
  it('accepts a valid manifest', () => {
    expect(checkManifestShape(JSON.parse(JSON.stringify(good())))).toBeTruthy();
  });
  const breakers: Array<[string, (m: any) => void, RegExp]> = [
    ['wrong format', (m) => (m.format = 'x'), /"format"/],
    ['future version', (m) => (m.version = 2), /unsupported "version" 2/],
    ['bad crc', (m) => (m.entries['a/b.ts'].crc32c = 'XYZ'), /crc32c is not 8 lower-case hex/],
    ['bad sha', (m) => (m.entries['a/b.ts'].sha256 = 'abc'), /sha256/],
    ['negative size', (m) => (m.entries['a/b.ts'].size = -1), /size/],
    ['escaping key', (m) => (m.entries['../x'] = m.entries['a/b.ts']), /safe root-relative path/],
    ['entries not object', (m) => (m.entries = []), /"entries"/],
  ];
  it.each(breakers)('rejects: %s', (_n, mutate, re) => {
    const m = JSON.parse(JSON.stringify(good()));
    mutate(m);
    expect(() => checkManifestShape(m)).toThrow(ManifestError);
    expect(() => checkManifestShape(m)).toThrow(re);
  });
  it('ETag and Repr-Digest helpers', () => {
    expect(etagFor({ crc32c: 'e3069283', size: 9 })).toBe('"e3069283-9"');
    expect(etagFor({ crc32c: '00000000', size: 1 << 20 })).toBe('"00000000-100000"');
    expect(reprDigestFor({ sha256: 'ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=' })).toBe('sha-256=:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=:');
  });
  it('catalogueLookup: by absolute path under the root, numeric CRC for the store', () => {
    const m = good();
    const look = catalogueLookup('/srv/media', m);
    expect(look.expected('/srv/media/a/b.ts')).toEqual({ size: 3, mtimeMs: 1.5, crc32c: 0x0a0b0c0d });
    expect(look.etag('/srv/media/a/b.ts')).toBe('"0a0b0c0d-3"');
    expect(look.reprDigest('/srv/media/a/b.ts')).toBe('sha-256=:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=:');
    for (const f of ['/srv/media/a/c.ts', '/srv/other/a/b.ts', '/srv/media', '/srv/media/../media2/a/b.ts', '/srv/media/constructor']) {
      expect(look.entry(f)).toBeUndefined();
    }
    expect(expectationFor({ ...m.entries['a/b.ts']!, crc32c: 'ffffffff' }).crc32c).toBe(0xffffffff);
  });
  it('isSafeRelPath', () => {
    expect(isSafeRelPath('a/b')).toBe(true);
    for (const p of ['', '/a', 'a/../b', './a', 'a//b', '..']) expect(isSafeRelPath(p)).toBe(false);
  });
});
