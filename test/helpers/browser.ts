// Helpers for the real-browser playback tests: Debian's Chromium driven by playwright-core.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM_PATH = process.env.SEGD_CHROMIUM ?? '/usr/bin/chromium';

/** CI=true (or any non-empty value other than 0/false) means a missing browser is a failure, not a skip. */
export const IN_CI = !!process.env.CI && !/^(0|false)$/i.test(process.env.CI);

export function chromiumAvailable(): boolean {
  try {
    fs.accessSync(CHROMIUM_PATH, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** One persistent context in a fresh profile directory; close() also deletes the profile. */
export async function launchBrowser(viewport = { width: 1280, height: 800 }, extraArgs: readonly string[] = []): Promise<Browser> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'segd-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      viewport,
      // Never --user-data-dir here: Playwright passes the profile itself and throws if it is given.
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--autoplay-policy=no-user-gesture-required',
        ...extraArgs,
      ],
    });
  } catch (err) {
    fs.rmSync(profile, { recursive: true, force: true });
    throw err;
  }
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Shape of the entries in window.segdPlayer (see web/player.js). */
export interface PlayerError {
  at: number;
  source: 'hls' | 'video' | 'page';
  type: string;
  details: string;
  fatal: boolean;
  url: string;
  message: string;
}
export interface FragLoad {
  at: number;
  type: string;
  level: number;
  sn: number;
  url: string;
  byteRange: [number, number] | null;
  bytes: number;
  loadMs: number | null;
  firstByteMs: number | null;
}
export interface LevelSwitch {
  at: number;
  level: number;
  width: number;
  height: number;
  bitrate: number;
}

/** Serializable snapshot of the page's player state, taken with page.evaluate(SNAPSHOT_JS). */
export interface PlayerSnapshot {
  engine: string;
  currentSrc: string;
  currentTime: number;
  duration: number;
  ended: boolean;
  videoWidth: number;
  videoHeight: number;
  totalVideoFrames: number;
  droppedVideoFrames: number;
  hlsCurrentLevel: number | null;
  hlsLevels: { width: number; height: number; bitrate: number }[];
  lockedLevel: number;
  errors: PlayerError[];
  fragLoads: FragLoad[];
  levelSwitches: LevelSwitch[];
}

/**
 * Expression for page.evaluate() returning a PlayerSnapshot. Kept as plain JS text so the
 * TypeScript transform (which may inject helpers such as __name) never reaches the browser.
 */
export const SNAPSHOT_JS = `(() => {
  const p = window.segdPlayer;
  const v = p.video;
  const q = v.getVideoPlaybackQuality();
  const copy = (x) => JSON.parse(JSON.stringify(x));
  return {
    engine: p.engine,
    currentSrc: v.currentSrc,
    currentTime: v.currentTime,
    duration: v.duration,
    ended: v.ended,
    videoWidth: v.videoWidth,
    videoHeight: v.videoHeight,
    totalVideoFrames: q.totalVideoFrames,
    droppedVideoFrames: q.droppedVideoFrames,
    hlsCurrentLevel: p.hls ? p.hls.currentLevel : null,
    hlsLevels: p.hls ? p.hls.levels.map((l) => ({ width: l.width, height: l.height, bitrate: l.bitrate })) : [],
    lockedLevel: p.lockedLevel,
    errors: copy(p.errors),
    fragLoads: copy(p.fragLoads),
    levelSwitches: copy(p.levelSwitches),
  };
})()`;

/** RESOLUTION attributes of a master playlist's variants, in playlist order. */
export function masterResolutions(masterFile: string): { width: number; height: number }[] {
  const text = fs.readFileSync(masterFile, 'utf8');
  const out: { width: number; height: number }[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (!line.startsWith('#EXT-X-STREAM-INF:')) continue;
    const m = /RESOLUTION=(\d+)x(\d+)/.exec(line);
    if (!m) throw new Error(`variant without RESOLUTION in ${masterFile}: ${line}`);
    out.push({ width: Number(m[1]), height: Number(m[2]) });
  }
  return out;
}
