/**
 * Byte-progress bar on stderr when it is a TTY (cli-progress); a no-op otherwise. A library user
 * can pass its own reporter instead (a web UI, a log line per file).
 */
import cliProgress from 'cli-progress';

export interface Progress {
  add(bytes: number): void;
  stop(): void;
}

/** Called once the files to read are known, before the first is read, with their total size. */
export type ProgressReporter = (totalBytes: number) => Progress;

const NOOP: Progress = { add() {}, stop() {} };

function fmtBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

export function startProgress(label: string, totalBytes: number, enabled: boolean | ProgressReporter | undefined): Progress {
  if (typeof enabled === 'function') return enabled(totalBytes);
  const on = (enabled ?? true) && Boolean(process.stderr.isTTY) && totalBytes > 0;
  if (!on) return NOOP;
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label} [{bar}] {percentage}% | {done} / {all} | {speed} | ETA {eta_formatted}`,
      hideCursor: true,
      clearOnComplete: true,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  const t0 = performance.now();
  let done = 0;
  bar.start(totalBytes, 0, { done: fmtBytes(0), all: fmtBytes(totalBytes), speed: '' });
  return {
    add(bytes) {
      done += bytes;
      const s = (performance.now() - t0) / 1000;
      bar.update(done, { done: fmtBytes(done), speed: s > 0 ? `${(done / s / 1e9).toFixed(2)} GB/s` : '' });
    },
    stop() {
      bar.stop();
    },
  };
}

export { fmtBytes };
