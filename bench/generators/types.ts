// What a load generator is asked to do and what it measures.

export interface LoadRequest {
  method: 'GET' | 'HEAD';
  path: string;
  headers?: Record<string, string>;
}

export interface LoadPlan {
  /** Requests cycled in order on each connection (autocannon) or each wrk thread. */
  sequence: LoadRequest[];
  /** Pick a random entry of `sequence` for every request instead of cycling. */
  random: boolean;
  /**
   * Requests that never repeat, in place of `sequence`: GET `${prefix}${n}${suffix}` for
   * n = 0, 1, 2, ... (a cold fill, each object asked for once). wrk only.
   */
  numbered?: { prefix: string; suffix: string };
}

export interface LoadRun {
  baseUrl: string;
  plan: LoadPlan;
  connections: number;
  durationSec: number;
  /** Status expected for every response (e.g. 206 for ranges, 304 for revalidation). */
  expectStatus: number;
}

export interface LoadResult {
  generator: 'wrk' | 'autocannon';
  requests: number;
  bytes: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
  /** Connection errors, timeouts, resets. */
  errors: number;
  /** Responses whose status is not the expected one (or, for wrk, >= 400). */
  unexpectedStatus: number;
  statusCounts: Record<string, number> | null;
  /** CPU seconds the generator used (its own process for wrk; this process for autocannon). */
  cpuSeconds: number;
}

export interface LoadGenerator {
  run: (r: LoadRun) => Promise<LoadResult>;
  /** Aborts a run in progress (Ctrl-C). */
  abort: () => void;
}

/** What every bench reports of one measured run, per second of it. */
export interface LoadFigures {
  requests: number;
  seconds: number;
  reqPerSec: number;
  bytesPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** Server CPU over the run, in cores. */
  serverCpu: number;
  /** Generator CPU over the run, in cores. */
  generatorCpu: number;
}

/** `r`'s figures, with the server's CPU seconds over it; `durationSec` stands in when the generator measured no time. */
export function loadFigures(r: LoadResult, durationSec: number, serverCpuSeconds: number): LoadFigures {
  const seconds = r.seconds > 0 ? r.seconds : durationSec;
  return {
    requests: r.requests,
    seconds,
    reqPerSec: r.requests / seconds,
    bytesPerSec: r.bytes / seconds,
    p50Ms: r.p50Ms,
    p99Ms: r.p99Ms,
    errors: r.errors,
    serverCpu: serverCpuSeconds / seconds,
    generatorCpu: r.cpuSeconds / seconds,
  };
}

/** The figures of a run that did not happen (skipped, failed before its load). */
export const NO_FIGURES: LoadFigures = { requests: 0, seconds: 0, reqPerSec: 0, bytesPerSec: 0, p50Ms: NaN, p99Ms: NaN, errors: 0, serverCpu: NaN, generatorCpu: NaN };
