/**
 * An edge in front of the fault-injecting origin, for a test file: one origin for the file, and
 * a fresh edge with its own cache directory per test, closed and removed after it.
 */
import { afterAll, afterEach, beforeAll } from 'vitest';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer, type ServerOptions } from '../../src/server/listen.js';
import { faultOrigin, type FaultOrigin } from './fault-origin.js';
import { capturedDiagnostics } from './diagnostics.js';

export interface FaultEdge {
  readonly origin: FaultOrigin;
  /** The current test's cache directory. */
  readonly cacheDir: string;
  /** The diagnostics (log lines) of the current test's edge. */
  readonly lines: Record<string, unknown>[];
  /** Starts the test's edge in front of the origin (or `from`), with a new cache directory. */
  edge(extra?: Partial<ServerOptions>, from?: string): Promise<RunningServer>;
  /** Starts another edge on the same cache directory (a restart: close the first one before). */
  reopen(extra?: Partial<ServerOptions>): Promise<RunningServer>;
  /** Object files in the disk cache (complete objects only ever appear there). */
  stored(): string[];
}

export function faultEdge(): FaultEdge {
  const origin = faultOrigin();
  let srv: RunningServer | undefined;
  let cacheDir = '';
  let lines: Record<string, unknown>[] = [];
  beforeAll(() => origin.start());
  afterAll(() => origin.stop());
  afterEach(async () => {
    await srv?.close(500);
    srv = undefined;
    rmSync(cacheDir, { recursive: true, force: true });
  });
  const start = async (extra: Partial<ServerOptions>, from: string): Promise<RunningServer> => {
    const captured = capturedDiagnostics();
    lines = captured.lines;
    srv = await startServer({ origin: from, cacheDir, port: 0, threads: 1, player: false, diagnostics: captured.diag, ...extra });
    return srv;
  };
  return {
    origin,
    get cacheDir() {
      return cacheDir;
    },
    get lines() {
      return lines;
    },
    edge(extra = {}, from = origin.url) {
      cacheDir = mkdtempSync(join(tmpdir(), 'segd-edge-'));
      return start(extra, from);
    },
    reopen: (extra = {}) => start(extra, origin.url),
    stored: () => readdirSync(join(cacheDir, 'data')).flatMap((d) => readdirSync(join(cacheDir, 'data', d))),
  };
}
