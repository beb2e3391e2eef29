/**
 * The origin client: one undici Agent (keep-alive pools, a bounded number of connections per
 * origin, connect, header and body-idle timeouts), retries with backoff and jitter for network
 * errors and 5xx before any body byte arrived, a circuit breaker, and redirects followed here (at
 * most MAX_REDIRECTS, http(s) only) so that a loop is an error rather than a hang.
 *
 * What is fetched is a root-relative path; a Target turns it into a URL and headers: a plain
 * HTTP(S) prefix, or an S3 bucket whose requests are signed (./s3.ts). Nothing here knows about
 * caching: the edge (../edge/) decides what to ask and what to keep.
 */
import { Agent, request, type Dispatcher } from 'undici';
import { Breaker, DEFAULT_BREAKER, type BreakerOptions } from './breaker.js';
import { backoffMs, DEFAULT_RETRY, retryable, type RetryOptions } from './retry.js';

export interface Target {
  /** Human-readable origin for logs (no credentials). */
  readonly name: string;
  /** URL and headers for GET `path` (decoded, root-relative) with `query` (`?...` or ''). */
  resolve(path: string, query: string, headers: Record<string, string>): Promise<{ url: URL; headers: Record<string, string> }>;
  /** Whether redirects may be followed (a signed request cannot be replayed elsewhere). */
  readonly followRedirects: boolean;
}

/** A plain HTTP(S) origin: `base` is `http(s)://host[:port]/prefix`. */
export function httpTarget(base: URL): Target {
  const prefix = base.pathname.endsWith('/') ? base.pathname : `${base.pathname}/`;
  return {
    name: base.origin + prefix,
    followRedirects: true,
    resolve: async (path, query, headers) => ({
      url: new URL(prefix + path.split('/').map(encodeURIComponent).join('/') + query, base.origin),
      headers,
    }),
  };
}

export interface OriginResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Dispatcher.ResponseData['body'];
  /** The URL that answered (after redirects). */
  readonly url: URL;
  /** When the request was sent and its headers arrived, ms since the epoch (RFC 9111 §4.2.3). */
  readonly requestTime: number;
  readonly responseTime: number;
}

export interface OriginOptions {
  readonly connections: number;
  readonly connectTimeoutMs: number;
  readonly headersTimeoutMs: number;
  /** Longest silence inside a body (a drip-fed body is cut here). */
  readonly bodyTimeoutMs: number;
  readonly retry: RetryOptions;
  readonly breaker: BreakerOptions;
}

export const DEFAULT_ORIGIN: OriginOptions = {
  connections: 64,
  connectTimeoutMs: 3_000,
  headersTimeoutMs: 10_000,
  bodyTimeoutMs: 10_000,
  retry: DEFAULT_RETRY,
  breaker: DEFAULT_BREAKER,
};

export interface OriginEvents {
  /** Each request that got an answer (after redirects); `firstByteS`: time to its headers. */
  response(status: number, firstByteS: number): void;
  /** Each request that got no answer (`code`: the network error). */
  failure(code: string): void;
  retry(): void;
  /** The breaker refused a request without trying. */
  shortCircuit(): void;
}

const MAX_REDIRECTS = 5;

/** Errors the origin client raises itself, with codes the edge maps to answers. */
export class OriginError extends Error {
  constructor(
    message: string,
    readonly code: 'ESEGDORIGINDOWN' | 'ESEGDREDIRECTLOOP' | 'ESEGDREDIRECT' | 'ESEGDPARTIAL' | string,
  ) {
    super(message);
    this.name = 'OriginError';
  }
}

export class Origin {
  private readonly agent: Agent;
  readonly breaker: Breaker;

  constructor(
    readonly target: Target,
    private readonly o: OriginOptions = DEFAULT_ORIGIN,
    private readonly events: Partial<OriginEvents> = {},
  ) {
    this.agent = new Agent({
      connections: o.connections,
      connect: { timeout: o.connectTimeoutMs },
      headersTimeout: o.headersTimeoutMs,
      bodyTimeout: o.bodyTimeoutMs,
      keepAliveTimeout: 4_000,
    });
    this.breaker = new Breaker(o.breaker);
  }

  /**
   * GET `path` + `query`. Retries network errors and 5xx (the 5xx body is discarded) while
   * attempts remain; the last 5xx is returned as it is. Throws OriginError ESEGDORIGINDOWN when
   * the breaker is open.
   */
  async get(path: string, query: string, headers: Record<string, string>): Promise<OriginResponse> {
    for (let attempt = 0; ; attempt++) {
      if (!this.breaker.allow()) {
        this.events.shortCircuit?.();
        throw new OriginError(`origin ${this.target.name} is down (circuit open)`, 'ESEGDORIGINDOWN');
      }
      const last = attempt >= this.o.retry.retries;
      let res: OriginResponse;
      try {
        res = await this.follow(path, query, headers);
      } catch (err) {
        if (err instanceof OriginError) {
          this.breaker.success(); // it answered, with redirects we will not follow
          throw err;
        }
        const code = (err as NodeJS.ErrnoException).code;
        this.breaker.failure();
        this.events.failure?.(code ?? 'EUNKNOWN');
        if (last || !retryable({ code })) throw err;
        this.events.retry?.();
        await sleep(backoffMs(attempt, this.o.retry));
        continue;
      }
      if (res.status >= 500) this.breaker.failure();
      else this.breaker.success();
      if (last || !retryable({ status: res.status })) return res;
      discard(res.body);
      this.events.retry?.();
      await sleep(backoffMs(attempt, this.o.retry));
    }
  }

  /** One attempt, redirects included. */
  private async follow(path: string, query: string, headers: Record<string, string>): Promise<OriginResponse> {
    let { url, headers: sent } = await this.target.resolve(path, query, headers);
    for (let hops = 0; ; hops++) {
      const requestTime = Date.now();
      const t0 = performance.now();
      const r = await request(url, { dispatcher: this.agent, method: 'GET', headers: sent });
      this.events.response?.(r.statusCode, (performance.now() - t0) / 1000);
      if (r.statusCode === 206 && headers.range === undefined) {
        // A part where the whole object was asked for: stored, or passed on without its
        // Content-Range, it would be a wrong object. nginx passes it on; segd refuses it.
        discard(r.body);
        throw new OriginError(`${this.target.name}${path} answered 206 Partial Content to a request without Range`, 'ESEGDPARTIAL');
      }
      const location = r.headers.location;
      if (r.statusCode < 300 || r.statusCode >= 400 || r.statusCode === 304 || typeof location !== 'string' || !this.target.followRedirects) {
        return { status: r.statusCode, headers: r.headers, body: r.body, url, requestTime, responseTime: Date.now() };
      }
      discard(r.body);
      if (hops >= MAX_REDIRECTS) throw new OriginError(`more than ${MAX_REDIRECTS} redirects from ${this.target.name}${path}`, 'ESEGDREDIRECTLOOP');
      const next = new URL(location, url);
      if (next.protocol !== 'http:' && next.protocol !== 'https:') throw new OriginError(`redirect to ${next.protocol} refused`, 'ESEGDREDIRECT');
      url = next;
      sent = headers; // a redirect elsewhere gets the caller's headers, never a signature
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Drops a body we will not read; undici keeps the connection when the rest is small. */
export function discard(body: OriginResponse['body']): void {
  body.dump().catch(() => undefined);
}
