// Real-browser playback of the bundled demo streams (demo/) through segd and the hls.js page (web/).
// Debian's /usr/bin/chromium, driven by playwright-core; one browser context for the whole file.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page, Response } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import os from 'node:os';
import { createSegd } from '../src/index.js';
import { startServer } from '../src/server/listen.js';
import { NGINX, startNginx } from './helpers/nginx.js';
import { get } from './helpers/http.js';
import { testPki } from './helpers/pki.js';
import {
  CHROMIUM_PATH,
  IN_CI,
  SNAPSHOT_JS,
  chromiumAvailable,
  launchBrowser,
  masterResolutions,
  type Browser,
  type PlayerSnapshot,
} from './helpers/browser.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const demoDir = path.join(repo, 'demo');
const artifacts = path.join(repo, 'test', 'artifacts');

const CASE_TIMEOUT = 20_000; // per playback case
const PLAY_PAST = 3; // seconds of currentTime each case must pass

interface Resolution {
  width: number;
  height: number;
}
interface StreamCase {
  name: string;
  src: string;
  /** Expected resolution of each level, in level order. */
  levels: Resolution[];
}

const STREAMS: StreamCase[] = [
  { name: 'ts', src: '/ts/master.m3u8', levels: masterResolutions(path.join(demoDir, 'ts/master.m3u8')) },
  { name: 'fmp4', src: '/fmp4/master.m3u8', levels: masterResolutions(path.join(demoDir, 'fmp4/master.m3u8')) },
  // A media playlist (no master, so no RESOLUTION): demo/generate.sh packages the 360p rendition.
  { name: 'byterange', src: '/byterange/main.m3u8', levels: [{ width: 640, height: 360 }] },
];

const haveChromium = chromiumAvailable();
if (!haveChromium && !IN_CI) {
  console.warn(
    `\n${'!'.repeat(78)}\n!! browser playback tests SKIPPED: no executable Chromium at ${CHROMIUM_PATH}\n` +
      `!! (apt-get install chromium). In CI (CI=true) this is a failure instead.\n${'!'.repeat(78)}\n`,
  );
}

describe.runIf(!haveChromium && IN_CI)('browser playback (CI)', () => {
  it('needs Chromium', () => {
    throw new Error(`CI=true but no executable Chromium at ${CHROMIUM_PATH}; install Debian's chromium package`);
  });
});

describe.runIf(haveChromium)('browser playback', () => {
  let browser: Browser;
  let server: http.Server;
  let segd: Awaited<ReturnType<typeof createSegd>>;
  let base: string;

  beforeAll(async () => {
    segd = await createSegd({ root: demoDir });
    server = http.createServer(segd.handler);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // The test CA's server key is trusted by its SPKI hash (for the HTTPS case), nothing else.
    browser = await launchBrowser(undefined, [`--ignore-certificate-errors-spki-list=${testPki().spki}`]);
    fs.mkdirSync(artifacts, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    await segd?.close();
  });

  interface Session {
    page: Page;
    responses: { url: string; path: string; status: number; range: string | undefined; cacheStatus: string | undefined }[];
    pageErrors: string[];
    close(): Promise<void>;
  }

  /** Opens the player on `src` (optionally locked to `level`, at another server), recording every response. */
  async function openPlayer(src: string, level?: number, opts: { blockHlsJs?: boolean; at?: string } = {}): Promise<Session> {
    const page = await browser.context.newPage();
    if (opts.blockHlsJs) await page.route('**/player/vendor/hls.min.js', (route) => route.abort());
    const responses: Session['responses'] = [];
    const pageErrors: string[] = [];
    page.on('response', (r: Response) => {
      const u = new URL(r.url());
      if (u.protocol !== 'http:' && u.protocol !== 'https:') return;
      responses.push({ url: r.url(), path: u.pathname, status: r.status(), range: r.request().headers()['range'], cacheStatus: r.headers()['cache-status'] });
    });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    // segd marks segments immutable; without this, later cases would be served from the browser's
    // cache instead of segd. Every case should exercise the server (and its 206 answers).
    const cdp = await browser.context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
    const qs = `?src=${src}` + (level === undefined ? '' : `&level=${level}`);
    await page.goto(`${opts.at ?? base}/player/${qs}`);
    return { page, responses, pageErrors, close: () => page.close() };
  }

  /** Waits until playback passed `seconds` (or a fatal error showed up), then snapshots the player. */
  async function playPast(page: Page, seconds: number, timeout: number): Promise<PlayerSnapshot> {
    await page
      .waitForFunction(
        `window.segdPlayer && (window.segdPlayer.video.currentTime > ${seconds} || ` +
          `window.segdPlayer.errors.some((e) => e.fatal))`,
        undefined,
        { timeout, polling: 100 },
      )
      .catch(() => {});
    return (await page.evaluate(SNAPSHOT_JS)) as PlayerSnapshot;
  }

  function expectCleanPlayback(s: PlayerSnapshot, session: Session, seconds: number): void {
    expect(s.errors, 'hls.js / <video> error events').toEqual([]);
    expect(session.pageErrors, 'uncaught page errors').toEqual([]);
    expect(s.engine).toBe('hls.js');
    expect(s.currentSrc.startsWith('blob:'), `currentSrc ${s.currentSrc} should be an MSE blob: URL`).toBe(true);
    expect(s.currentTime).toBeGreaterThan(seconds);
    expect(s.totalVideoFrames).toBeGreaterThan(0);
    const failed = session.responses.filter((r) => r.status >= 400);
    expect(failed, 'failed HTTP responses').toEqual([]);
  }

  for (const stream of STREAMS) {
    describe(stream.name, () => {
      it(`plays ${stream.src} on automatic level selection`, async () => {
        const session = await openPlayer(stream.src);
        try {
          const s = await playPast(session.page, PLAY_PAST, CASE_TIMEOUT - 5_000);
          expectCleanPlayback(s, session, PLAY_PAST);
          expect(s.lockedLevel).toBe(-1);
          expect(s.hlsLevels.length).toBe(stream.levels.length);
          // The decoded picture is one of the ladder's resolutions: the one of the level now playing.
          expect(stream.levels).toContainEqual({ width: s.videoWidth, height: s.videoHeight });
          expect(s.hlsCurrentLevel).not.toBeNull();
          expect({ width: s.videoWidth, height: s.videoHeight }).toEqual(stream.levels[s.hlsCurrentLevel!]);
          await session.page.screenshot({ path: path.join(artifacts, `player-${stream.name}-auto.png`) });
          if (stream.name === 'byterange') expectByteRanges(session);
        } finally {
          await session.close();
        }
      }, CASE_TIMEOUT);

      stream.levels.forEach((res, level) => {
        it(`plays ${stream.src} locked to level ${level} (${res.width}x${res.height})`, async () => {
          const session = await openPlayer(stream.src, level);
          try {
            const s = await playPast(session.page, PLAY_PAST, CASE_TIMEOUT - 5_000);
            expectCleanPlayback(s, session, PLAY_PAST);
            expect(s.lockedLevel).toBe(level);
            expect(s.hlsCurrentLevel).toBe(level);
            expect({ width: s.videoWidth, height: s.videoHeight }).toEqual(res);
            // Locked from the start: every main-type fragment came from that level, no other level played.
            const mainLevels = new Set(s.fragLoads.filter((f) => f.type === 'main').map((f) => f.level));
            expect([...mainLevels]).toEqual([level]);
            expect(new Set(s.levelSwitches.map((l) => l.level))).toEqual(new Set([level]));
            if (stream.name === 'byterange') expectByteRanges(session);
          } finally {
            await session.close();
          }
        }, CASE_TIMEOUT);
      });
    });
  }

  /** The single media file is fetched only with Range requests, each answered 206. */
  function expectByteRanges(session: Session): void {
    const media = session.responses.filter((r) => r.path === '/byterange/main.mp4');
    expect(media.length, 'requests for /byterange/main.mp4').toBeGreaterThanOrEqual(2); // init + segments
    expect(media.map((r) => r.status)).toEqual(media.map(() => 206));
    for (const r of media) expect(r.range, `Range header on ${r.url}`).toMatch(/^bytes=\d+-\d+$/);
  }

  /** Waits until playback ended (or a fatal error showed up), then snapshots the player. */
  async function playToEnd(page: Page): Promise<PlayerSnapshot> {
    await page
      .waitForFunction('window.segdPlayer && (window.segdPlayer.video.ended || window.segdPlayer.errors.some((e) => e.fatal))', undefined, { timeout: 25_000, polling: 200 })
      .catch(() => {});
    return (await page.evaluate(SNAPSHOT_JS)) as PlayerSnapshot;
  }

  it('plays /fmp4/master.m3u8 through to the end', async () => {
    const session = await openPlayer('/fmp4/master.m3u8');
    try {
      const s = await playToEnd(session.page);
      expect(s.ended, `ended (currentTime ${s.currentTime} / ${s.duration})`).toBe(true);
      expectCleanPlayback(s, session, 9.9);
      expect(s.duration).toBeCloseTo(10, 1);
      // 10 s at 24 fps = 240 frames; allow a few to be dropped on a loaded machine.
      expect(s.totalVideoFrames).toBeGreaterThan(200);
      await session.page.screenshot({ path: path.join(artifacts, 'player-fmp4-ended.png') });
    } finally {
      await session.close();
    }
  }, 30_000);

  it('switches streams with the picker and levels with the buttons, keeping the URL in sync', async () => {
    const session = await openPlayer('/ts/master.m3u8');
    const { page } = session;
    try {
      // The picker is filled from /api/streams; every demo stream is listed.
      await page.waitForSelector('#stream-select option[value="/fmp4/master.m3u8"]', { state: 'attached', timeout: 5_000 });
      const listed = (await page.evaluate(
        '[...document.querySelectorAll("#stream-select option")].map((o) => o.value)',
      )) as string[];
      expect(listed).toEqual(expect.arrayContaining(STREAMS.map((s) => s.src)));

      await page.selectOption('#stream-select', '/fmp4/master.m3u8');
      await page.waitForFunction(
        'location.search === "?src=/fmp4/master.m3u8" && window.segdPlayer.video.currentTime > 1',
        undefined,
        { timeout: 8_000, polling: 100 },
      );
      await page.click('#level-buttons button[data-level="0"]');
      await page.waitForFunction('window.segdPlayer.video.videoWidth === 416', undefined, { timeout: 8_000, polling: 100 });
      expect(new URL(page.url()).search).toBe('?src=/fmp4/master.m3u8&level=0');
      expect(await page.getAttribute('#level-buttons button[data-level="0"]', 'aria-pressed')).toBe('true');

      await page.click('#level-buttons button[data-level="-1"]');
      expect(new URL(page.url()).search).toBe('?src=/fmp4/master.m3u8');
      const s = (await page.evaluate(SNAPSHOT_JS)) as PlayerSnapshot;
      expect(s.lockedLevel).toBe(-1);
      expectCleanPlayback(s, session, 1);
    } finally {
      await session.close();
    }
  }, CASE_TIMEOUT);

  /** Opens the player with hls.js blocked; whether this Chromium plays HLS by itself. */
  async function withoutHlsJs(): Promise<{ session: Session; native: boolean }> {
    const session = await openPlayer('/ts/master.m3u8', undefined, { blockHlsJs: true });
    const native = (await session.page.evaluate('document.createElement("video").canPlayType("application/vnd.apple.mpegurl")')) !== '';
    return { session, native };
  }

  it('without hls.js and without native HLS, the page says why nothing plays', async (ctx) => {
    const { session, native } = await withoutHlsJs();
    try {
      if (native) ctx.skip('this Chromium plays HLS natively: see the next test');
      await session.page.waitForFunction('window.segdPlayer && window.segdPlayer.errors.length >= 2', undefined, { timeout: 15_000, polling: 100 });
      const s = (await session.page.evaluate(SNAPSHOT_JS)) as PlayerSnapshot;
      // The missing vendor script is reported; nothing else went wrong.
      expect(s.errors.map((e) => `${e.source}/${e.details}`)).toEqual(['page/hlsJsNotLoaded', 'page/noMseNoNativeHls']);
      expect(s.engine).toBe('none');
    } finally {
      await session.close();
    }
  }, CASE_TIMEOUT);

  it('without hls.js, a browser with native HLS plays through it', async (ctx) => {
    const { session, native } = await withoutHlsJs();
    try {
      if (!native) ctx.skip("Debian's Chromium has no native HLS (only Safari-like browsers do)");
      await session.page.waitForFunction('window.segdPlayer.video.currentTime > 1', undefined, { timeout: 15_000, polling: 100 });
      const s = (await session.page.evaluate(SNAPSHOT_JS)) as PlayerSnapshot;
      expect(s.errors.map((e) => `${e.source}/${e.details}`)).toEqual(['page/hlsJsNotLoaded']);
      expect(s.engine).toBe('native');
      expect(s.currentSrc).toBe(`${base}/ts/master.m3u8`);
      expect(s.totalVideoFrames).toBeGreaterThan(0);
    } finally {
      await session.close();
    }
  }, CASE_TIMEOUT);

  it('lays out on a 390x844 phone viewport without horizontal scrolling', async () => {
    const session = await openPlayer('/ts/master.m3u8', 1);
    try {
      await session.page.setViewportSize({ width: 390, height: 844 });
      const s = await playPast(session.page, 1, CASE_TIMEOUT - 5_000);
      expectCleanPlayback(s, session, 1);
      const overflow = await session.page.evaluate('document.documentElement.scrollWidth - window.innerWidth');
      expect(overflow).toBeLessThanOrEqual(0);
      await session.page.screenshot({ path: path.join(artifacts, 'player-phone.png'), fullPage: true });
    } finally {
      await session.close();
    }
  }, CASE_TIMEOUT);

  it('plays over HTTPS, the media over HTTP/2', async () => {
    const tls = await startServer({ root: demoDir, host: '127.0.0.1', port: 0, threads: 1, tls: testPki().files });
    const session = await openPlayer('/fmp4/master.m3u8', undefined, { at: `https://localhost:${new URL(tls.url).port}` });
    try {
      expectCleanPlayback(await playPast(session.page, PLAY_PAST, CASE_TIMEOUT - 5_000), session, PLAY_PAST);
      const protocols = (await session.page.evaluate(`performance.getEntriesByType('resource').filter((e) => new URL(e.name).pathname.startsWith('/fmp4/')).map((e) => e.nextHopProtocol)`)) as string[];
      expect(protocols.length).toBeGreaterThan(3);
      expect(new Set(protocols)).toEqual(new Set(['h2']));
      expect(session.responses.filter((r) => r.path.startsWith('/fmp4/')).every((r) => r.url.startsWith('https:'))).toBe(true);
    } finally {
      await session.close();
      await tls.close(1000);
    }
  }, CASE_TIMEOUT);

  describe.runIf(NGINX !== undefined || IN_CI)('an edge whose origin went away', () => {
    it('plays a VOD stream fetched once before to the end, serves every file, and still does after a restart', async () => {
      const nginx = await startNginx(demoDir);
      const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'segd-edge-browser-'));
      const files = walkFiles(path.join(demoDir, 'fmp4')).map((f) => `/fmp4/${f}`);
      let edge = await startServer({ origin: nginx.url, cacheDir, port: 0, threads: 1 });
      try {
        for (const f of files) expect((await get(edge.url, f)).status, f).toBe(200); // fetched once
        await nginx.stop();

        const session = await openPlayer('/fmp4/master.m3u8', undefined, { at: edge.url.replace(/\/$/, '') });
        try {
          const s = await playToEnd(session.page);
          expect(s.ended, `ended (currentTime ${s.currentTime} / ${s.duration})`).toBe(true);
          expectCleanPlayback(s, session, 9.9);
          const media = session.responses.filter((r) => r.path.startsWith('/fmp4/'));
          expect(media.length).toBeGreaterThan(5);
          for (const r of media) expect(r.cacheStatus, r.path).toBe('segd; hit');
        } finally {
          await session.close();
        }
        const expectEveryFile = async (): Promise<void> => {
          for (const f of files) {
            const r = await get(edge.url, f);
            expect(r.status, f).toBe(200);
            expect(r.body.equals(fs.readFileSync(path.join(demoDir, f))), f).toBe(true);
          }
        };
        await expectEveryFile();
        await edge.close(1000);
        edge = await startServer({ origin: nginx.url, cacheDir, port: 0, threads: 1 }); // the origin is still down
        await expectEveryFile();
        const again = await openPlayer('/fmp4/master.m3u8', undefined, { at: edge.url.replace(/\/$/, '') });
        try {
          expectCleanPlayback(await playPast(again.page, PLAY_PAST, CASE_TIMEOUT - 5_000), again, PLAY_PAST);
        } finally {
          await again.close();
        }
      } finally {
        await edge.close(1000);
        await nginx.remove();
        fs.rmSync(cacheDir, { recursive: true, force: true });
      }
    }, 60_000);
  });
});

/** Every file under `dir`, relative to it. */
function walkFiles(dir: string, prefix = ''): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walkFiles(path.join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]));
}
