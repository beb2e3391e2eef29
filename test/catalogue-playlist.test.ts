// The playlist reader on its own (src/catalogue/playlist.ts): what hls-parser's objects become,
// field by field, and what the server's cheap reading of a playlist says. toStrictEqual on whole
// results: a field that should be absent must be absent, not present as undefined.
import { describe, expect, it } from 'vitest';
import { parseAttributeList, parsePlaylistText, readPlaylistFacts } from '../src/catalogue/playlist.js';
import type { ParsedPlaylist } from '../src/catalogue/types.js';

/** Each kind of result without its path (Omit alone would merge the kinds). */
type WithoutPath<T> = T extends unknown ? Omit<T, 'path'> : never;

const NOT_FIRST = 'not an HLS playlist: the first line must be #EXTM3U';

describe('parsePlaylistText', () => {
  const rows: Array<[name: string, text: string, expected: WithoutPath<ParsedPlaylist>]> = [
    [
      'a master: variants with and without optional attributes, renditions once each, session keys',
      [
        '#EXTM3U',
        '#EXT-X-SESSION-KEY:METHOD=AES-128,URI="k.key"',
        '#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES',
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="en",LANGUAGE="en",URI="en.m3u8"',
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="fr"',
        '#EXT-X-STREAM-INF:BANDWIDTH=5,AUDIO="a"',
        'lo.m3u8',
        '#EXT-X-STREAM-INF:BANDWIDTH=9,AVERAGE-BANDWIDTH=8,CODECS="c",RESOLUTION=4x2,FRAME-RATE=30,AUDIO="a"',
        'hi.m3u8',
        '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1,URI="if.m3u8"',
        '',
      ].join('\n'),
      {
        kind: 'master',
        // SAMPLE-AES without a URI; "Param Check" lines are filtered, this one is not.
        diagnostics: ['Conditional Param Check : Failed at [0]'],
        variants: [
          { uri: 'lo.m3u8', isIFrameOnly: false, bandwidth: 5 },
          { uri: 'hi.m3u8', isIFrameOnly: false, bandwidth: 9, averageBandwidth: 8, codecs: 'c', resolution: { width: 4, height: 2 }, frameRate: 30 },
          { uri: 'if.m3u8', isIFrameOnly: true, bandwidth: 1 },
        ],
        renditions: [
          { type: 'AUDIO', groupId: 'a', name: 'en', language: 'en', uri: 'en.m3u8' },
          { type: 'AUDIO', groupId: 'a', name: 'fr' },
        ],
        sessionKeys: [{ method: 'AES-128', uri: 'k.key' }, { method: 'SAMPLE-AES' }],
      },
    ],
    [
      'numbers JSON cannot carry are dropped, a missing BANDWIDTH is left to the validator',
      '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1e400,AVERAGE-BANDWIDTH=1e400,FRAME-RATE=1e400\nv.m3u8\n#EXT-X-STREAM-INF:CODECS="c"\nw.m3u8\n',
      { kind: 'master', diagnostics: [], variants: [{ uri: 'v.m3u8', isIFrameOnly: false }, { uri: 'w.m3u8', isIFrameOnly: false, codecs: 'c' }], renditions: [], sessionKeys: [] },
    ],
    [
      'a rendition without NAME keeps an empty name; a commented-out one is not read',
      '#EXTM3U\n##EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="old",NAME="x",URI="gone.m3u8"\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",URI="x.m3u8"\n#EXT-X-STREAM-INF:BANDWIDTH=1,AUDIO="a"\nv.m3u8\n',
      {
        kind: 'master',
        diagnostics: [],
        variants: [{ uri: 'v.m3u8', isIFrameOnly: false, bandwidth: 1 }],
        renditions: [{ type: 'AUDIO', groupId: 'a', name: '', uri: 'x.m3u8' }],
        sessionKeys: [],
      },
    ],
    [
      'empty texts are absent: URI="", LANGUAGE="", CODECS=""',
      '#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="n",LANGUAGE="",URI=""\n#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS="",AUDIO="a"\nv.m3u8\n',
      { kind: 'master', diagnostics: [], variants: [{ uri: 'v.m3u8', isIFrameOnly: false, bandwidth: 1 }], renditions: [{ type: 'AUDIO', groupId: 'a', name: 'n' }], sessionKeys: [] },
    ],
    [
      'a variant whose URI line is missing, reported once however often the parser says it',
      '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n#EXT-X-STREAM-INF:BANDWIDTH=2\n',
      {
        kind: 'master',
        diagnostics: ['Invalid Playlist : EXT-X-STREAM-INF must be followed by a URI line'],
        variants: [{ uri: '', isIFrameOnly: false, bandwidth: 1 }, { uri: '', isIFrameOnly: false, bandwidth: 2 }],
        renditions: [],
        sessionKeys: [],
      },
    ],
    [
      'fMP4 VOD: map with a range, key until METHOD=NONE, implicit range offsets, GAP',
      [
        '#EXTM3U',
        '#EXT-X-VERSION:7',
        '#EXT-X-PLAYLIST-TYPE:VOD',
        '#EXT-X-TARGETDURATION:4',
        '#EXT-X-MAP:URI="init.mp4",BYTERANGE="50@10"',
        '#EXT-X-KEY:METHOD=AES-128,URI="k"',
        '#EXTINF:4,',
        '#EXT-X-BYTERANGE:100@0',
        'm.mp4',
        '#EXT-X-KEY:METHOD=NONE',
        '#EXT-X-GAP',
        '#EXTINF:3.5,',
        '#EXT-X-BYTERANGE:100',
        'm.mp4',
        '#EXT-X-ENDLIST',
        '',
      ].join('\n'),
      {
        kind: 'media',
        diagnostics: ['Invalid Playlist : EXT-X-VERSION needs to be 8 or higher.'], // EXT-X-GAP
        targetDuration: 4,
        version: 7,
        endlist: true,
        playlistType: 'VOD',
        isIFrame: false,
        segments: [
          { uri: 'm.mp4', duration: 4, byterange: { length: 100, offset: 0 }, map: { uri: 'init.mp4', byterange: { length: 50, offset: 10 } }, key: { method: 'AES-128', uri: 'k' } },
          { uri: 'm.mp4', duration: 3.5, byterange: { length: 100, offset: 100 }, map: { uri: 'init.mp4', byterange: { length: 50, offset: 10 } }, gap: true },
        ],
      },
    ],
    [
      'live with parts, one with a range; a key without URI; a map without URI',
      '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-PART-INF:PART-TARGET=1\n#EXT-X-MAP:BYTERANGE="5@0"\n#EXT-X-KEY:METHOD=AES-128\n#EXT-X-PART:DURATION=1,URI="p0.m4s",BYTERANGE="10@0"\n#EXT-X-PART:DURATION=1,URI="p1.m4s"\n#EXTINF:2,\ns.m4s\n',
      {
        kind: 'media',
        diagnostics: ['Conditional Param Check : Failed at [0]', 'Invalid Playlist : EXT-X-VERSION needs to be 6 or higher.'],
        targetDuration: 2,
        endlist: false,
        isIFrame: false,
        segments: [{ uri: 's.m4s', duration: 2, map: { byterange: { length: 5, offset: 0 } }, key: { method: 'AES-128' }, parts: [{ uri: 'p0.m4s', byterange: { length: 10, offset: 0 } }, { uri: 'p1.m4s' }] }],
      },
    ],
    [
      'the live edge of LL-HLS: parts after the last EXTINF make a segment with no URI or duration yet; a preload hint is a part marked as such',
      '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-PART-INF:PART-TARGET=1\n#EXTINF:2,\ns.m4s\n#EXT-X-PART:DURATION=1,URI="n.m4s"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI="n2.m4s"\n',
      {
        kind: 'media',
        diagnostics: [],
        targetDuration: 2,
        endlist: false,
        isIFrame: false,
        segments: [{ uri: 's.m4s', duration: 2 }, { uri: '', duration: undefined as unknown as number, parts: [{ uri: 'n.m4s' }, { uri: 'n2.m4s', hint: true }] }],
      },
    ],
    [
      'no EXT-X-TARGETDURATION: none reported (the validator says so), and the parser’s own line is filtered',
      '#EXTM3U\n#EXTINF:2,\na.ts\n',
      { kind: 'media', diagnostics: [], endlist: false, isIFrame: false, segments: [{ uri: 'a.ts', duration: 2 }] },
    ],
    [
      'a target duration JSON cannot carry is dropped',
      '#EXTM3U\n#EXT-X-TARGETDURATION:1e400\n#EXT-X-VERSION:1e400\n#EXTINF:2,\na.ts\n',
      { kind: 'media', diagnostics: [], endlist: false, isIFrame: false, segments: [{ uri: 'a.ts', duration: 2 }] },
    ],
    [
      'an I-frame playlist; the parser’s EXTINF rounding line is filtered (the validator has its own)',
      '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-VERSION:4\n#EXT-X-I-FRAMES-ONLY\n#EXTINF:2.5,\n#EXT-X-BYTERANGE:10@0\na.ts\n#EXT-X-ENDLIST\n',
      { kind: 'media', diagnostics: [], targetDuration: 2, version: 4, endlist: true, isIFrame: true, segments: [{ uri: 'a.ts', duration: 2.5, byterange: { length: 10, offset: 0 } }] },
    ],
    [
      'a BOM and spaces after #EXTM3U are tolerated',
      '\ufeff#EXTM3U  \r\n#EXT-X-TARGETDURATION:2\r\n#EXTINF:2,\r\na.ts\r\n',
      { kind: 'media', diagnostics: [], targetDuration: 2, endlist: false, isIFrame: false, segments: [{ uri: 'a.ts', duration: 2 }] },
    ],
    ['HTML is not a playlist', '<html>\n#EXTM3U\n', { kind: 'invalid', code: 'not-playlist', error: NOT_FIRST, diagnostics: [] }],
    ['#EXTM3U on the second line is not a playlist', '\n#EXTM3U\n#EXT-X-TARGETDURATION:2\n', { kind: 'invalid', code: 'not-playlist', error: NOT_FIRST, diagnostics: [] }],
    ['an empty file is not a playlist', '', { kind: 'invalid', code: 'not-playlist', error: NOT_FIRST, diagnostics: [] }],
  ];
  it.each(rows)('%s', (_name, text, expected) => {
    const p = parsePlaylistText(text, 'd/p.m3u8');
    expect(p).toStrictEqual({ ...expected, path: 'd/p.m3u8' });
    expect(structuredClone(p)).toStrictEqual(p);
  });

  it('the parser’s complaints become data: nothing reaches stderr, and console.error is restored', () => {
    const before = console.error;
    const seen: unknown[] = [];
    console.error = (...args: unknown[]) => seen.push(args);
    try {
      const p = parsePlaylistText('#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n', 'p.m3u8');
      expect(p.diagnostics).toEqual(['Invalid Playlist : EXT-X-STREAM-INF must be followed by a URI line']);
      expect(seen).toEqual([]);
      console.error('after');
      expect(seen).toEqual([['after']]);
    } finally {
      console.error = before;
    }
  });
});

describe('readPlaylistFacts', () => {
  const rows: Array<[name: string, text: string, facts: ReturnType<typeof readPlaylistFacts>['facts'], problem: string | undefined]> = [
    ['a master', '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS="c"\nv.m3u8\n', { master: true, endList: false }, undefined],
    ['a finished media playlist', '#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6,\na.ts\n#EXT-X-ENDLIST\n', { master: false, endList: true, targetDuration: 6 }, undefined],
    ['a live one', '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\na.ts\n', { master: false, endList: false, targetDuration: 2 }, undefined],
    // The first of the parser's complaints, without its prefix; the server only logs it.
    ['a live one without a target', '#EXTM3U\n#EXTINF:2,\na.ts\n', { master: false, endList: false, targetDuration: undefined }, 'The EXT-X-TARGETDURATION tag is REQUIRED'],
    ['a master with a problem', '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n', { master: true, endList: false }, 'EXT-X-STREAM-INF must be followed by a URI line'],
    ['not a playlist', 'hello\n', undefined, NOT_FIRST],
  ];
  it.each(rows)('%s', (_name, text, facts, problem) => {
    expect(readPlaylistFacts(text)).toStrictEqual({ facts, problem });
  });
});

describe('parseAttributeList', () => {
  const rows: Array<[string, Array<[string, string]>]> = [
    ['TYPE=AUDIO,GROUP-ID="a,b",NAME="x",DEFAULT=YES', [['TYPE', 'AUDIO'], ['GROUP-ID', 'a,b'], ['NAME', 'x'], ['DEFAULT', 'YES']]],
    ['  NAME="padded"  ', [['NAME', 'padded']]],
    ['URI=""', [['URI', '']]],
    ['lower=1,NAME=x', []], // not an attribute name: the list ends there
    ['', []],
  ];
  it.each(rows)('%j', (text, expected) => {
    expect([...parseAttributeList(text)]).toEqual(expected);
  });
});
