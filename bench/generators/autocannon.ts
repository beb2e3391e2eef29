// autocannon (programmatic API, in this process) for request-rate and latency scenarios.
import autocannon from 'autocannon';
import type { LoadGenerator, LoadResult, LoadRun } from './types.js';

type Instance = autocannon.Instance;
let current: Instance | null = null;

/**
 * autocannon's parser (http-parser-js) waits for a body after a HEAD response that carries
 * Content-Length. Its client installs the headers-complete callback after setupClient runs,
 * so trap the assignment and make the callback return 1 ("skip the body"), as node's own
 * client does for HEAD.
 */
function skipBodies(client: unknown): void {
  const parser = (client as { parser?: object }).parser as (Record<number, unknown> & { constructor: { kOnHeadersComplete?: number } }) | undefined;
  const key = parser?.constructor.kOnHeadersComplete;
  if (!parser || key === undefined) return;
  let inner = parser[key] as ((...a: unknown[]) => unknown) | undefined;
  const wrapped = (...a: unknown[]): number => {
    inner?.apply(parser, a);
    return 1;
  };
  Object.defineProperty(parser, key, {
    configurable: true,
    enumerable: true,
    get: () => wrapped,
    set: (f: (...a: unknown[]) => unknown) => {
      inner = f;
    },
  });
}

/** Response times in ms, in a growable Float64Array. */
class LatencySamples {
  private buf = new Float64Array(1 << 16);
  count = 0;

  add(ms: number): void {
    if (this.count === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.count++] = ms;
  }

  percentile(p: number): number {
    const sorted = this.buf.subarray(0, this.count).sort();
    return sorted[Math.min(this.count - 1, Math.ceil((p / 100) * this.count) - 1)] ?? NaN;
  }
}

export const autocannonGenerator: LoadGenerator = {
  abort: () => {
    current?.stop();
  },
  run: async (r: LoadRun): Promise<LoadResult> => {
    const { sequence, random } = r.plan;
    if (r.plan.numbered) throw new Error('numbered (never-repeating) plans need wrk');
    const head = sequence.every((q) => q.method === 'HEAD');
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const opts: autocannon.Options = {
      url: r.baseUrl,
      connections: r.connections,
      duration: r.durationSec,
      timeout: 10,
      requests: sequence.map((q) => ({
        method: q.method,
        path: q.path,
        headers: q.headers,
        ...(random
          ? {
              setupRequest: (req: autocannon.Request) => {
                const pick = sequence[Math.floor(Math.random() * sequence.length)]!;
                return { ...req, method: pick.method, path: pick.path, headers: pick.headers };
              },
            }
          : {}),
      })),
      ...(head ? { setupClient: skipBodies } : {}),
    };
    // autocannon's own histogram has 1 ms resolution: keep every response time instead.
    const times = new LatencySamples();
    const result = await new Promise<autocannon.Result>((resolve, reject) => {
      current = autocannon(opts, (err, res) => (err ? reject(err) : resolve(res)));
      current.on('response', (_client: unknown, _status: number, _bytes: number, ms: number) => times.add(ms));
    }).finally(() => {
      current = null;
    });
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    const statusCounts: Record<string, number> = {};
    const stats = (result as unknown as { statusCodeStats?: Record<string, { count: number }> }).statusCodeStats ?? {};
    let expected = 0;
    let total = 0;
    for (const [code, s] of Object.entries(stats)) {
      statusCounts[code] = s.count;
      total += s.count;
      if (Number(code) === r.expectStatus) expected += s.count;
    }
    return {
      generator: 'autocannon',
      requests: result.requests.total,
      bytes: result.throughput.total,
      seconds: result.duration || seconds,
      p50Ms: times.count > 0 ? times.percentile(50) : result.latency.p50,
      p99Ms: times.count > 0 ? times.percentile(99) : result.latency.p99,
      errors: result.errors, // includes timeouts
      unexpectedStatus: total - expected,
      statusCounts,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
    };
  },
};
