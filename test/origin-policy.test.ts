// The origin client's policies on their own (src/store/origin/breaker.ts, retry.ts): when the
// breaker opens, half-opens and closes on a clock the test turns, and which failures are retried
// after how long. test/edge-faults.test.ts drives them through a server; these pin the numbers.
import { describe, expect, it } from 'vitest';
import { Breaker, DEFAULT_BREAKER, type BreakerOptions } from '../src/store/origin/breaker.js';
import { backoffMs, DEFAULT_RETRY, retryable } from '../src/store/origin/retry.js';

/** A breaker on a clock that moves only when told. */
function breaker(o?: BreakerOptions): { b: Breaker; at: (ms: number) => void } {
  let now = 1_000_000;
  const b = new Breaker(o, () => now);
  return { b, at: (ms) => (now = 1_000_000 + ms) };
}

describe('Breaker', () => {
  it('by default opens on the fifth failure in a row, for one second', () => {
    const { b, at } = breaker();
    for (let i = 0; i < 4; i++) b.failure();
    expect([b.state, b.allow()]).toEqual(['closed', true]);
    b.failure();
    expect([b.state, b.allow()]).toEqual(['open', false]);
    at(999);
    expect(b.state).toBe('open');
    at(1000);
    expect(b.state).toBe('half-open');
    expect(DEFAULT_BREAKER).toEqual({ threshold: 5, openMs: 1_000, maxOpenMs: 30_000 });
  });

  it('a success resets the count of failures in a row', () => {
    const { b } = breaker({ threshold: 3, openMs: 100, maxOpenMs: 1000 });
    b.failure();
    b.failure();
    b.success();
    b.failure();
    b.failure();
    expect(b.state).toBe('closed');
    b.failure();
    expect(b.state).toBe('open');
  });

  it('half-open lets one probe through at a time; its success closes the breaker', () => {
    const { b, at } = breaker({ threshold: 2, openMs: 100, maxOpenMs: 1000 });
    b.failure();
    b.failure();
    at(100);
    expect([b.allow(), b.allow(), b.allow()]).toEqual([true, false, false]);
    b.success();
    expect([b.state, b.allow(), b.allow()]).toEqual(['closed', true, true]);
    // Closed again with a fresh count: one failure does not reopen it.
    b.failure();
    expect(b.state).toBe('closed');
  });

  it('a failed probe reopens it for twice as long each time, up to maxOpenMs', () => {
    const { b, at } = breaker({ threshold: 2, openMs: 100, maxOpenMs: 700 });
    b.failure();
    b.failure(); // open [0, 100)
    let t = 100;
    for (const openFor of [200, 400, 700, 700]) {
      at(t);
      expect(b.allow()).toBe(true); // the probe
      b.failure();
      at(t + openFor - 1);
      expect([b.state, b.allow()]).toEqual(['open', false]);
      t += openFor;
    }
    at(t);
    expect(b.state).toBe('half-open');
  });

  it('a failure that was no probe reopens it for the same time, and a success restores the first', () => {
    const { b, at } = breaker({ threshold: 2, openMs: 100, maxOpenMs: 1000 });
    b.failure();
    b.failure(); // open [0, 100)
    at(100);
    b.allow();
    b.failure(); // a failed probe: open [100, 300)
    at(300);
    b.failure(); // not a probe (no allow() in between): open [300, 500)
    at(499);
    expect(b.state).toBe('open');
    at(500);
    expect(b.state).toBe('half-open');
    b.allow();
    b.success();
    b.failure();
    b.failure(); // open for openMs again: [500, 600)
    at(599);
    expect(b.state).toBe('open');
    at(600);
    expect(b.state).toBe('half-open');
  });

  it('a failed probe frees the half-open slot for the next probe', () => {
    const { b, at } = breaker({ threshold: 1, openMs: 100, maxOpenMs: 100 });
    b.failure();
    at(100);
    expect(b.allow()).toBe(true);
    b.failure(); // open [100, 200)
    at(200);
    expect(b.allow()).toBe(true);
  });

  it('with a threshold of 1, a failure that is no probe opens it for openMs, first or after a success', () => {
    const { b, at } = breaker({ threshold: 1, openMs: 100, maxOpenMs: 1000 });
    b.failure(); // open [0, 100)
    at(99);
    expect(b.state).toBe('open');
    at(100);
    expect(b.allow()).toBe(true);
    b.success();
    b.failure(); // the probe succeeded; this failure is no probe: open [100, 200)
    at(199);
    expect(b.state).toBe('open');
    at(200);
    expect(b.state).toBe('half-open');
  });

  it('uses the wall clock by default', () => {
    const b = new Breaker({ threshold: 1, openMs: 60_000, maxOpenMs: 60_000 });
    b.failure();
    expect(b.state).toBe('open');
  });
});

describe('backoffMs', () => {
  // [attempt, base, cap, random(), wait]: uniform in [0, min(cap, base·2^attempt)), whole ms.
  const table: [number, number, number, number, number][] = [
    [0, 50, 1000, 0.5, 25],
    [1, 50, 1000, 0.5, 50],
    [2, 50, 1000, 0.5, 100],
    [3, 50, 1000, 0.999, 399],
    [4, 50, 1000, 0.999, 799],
    [5, 50, 1000, 0.999, 999], // 1600 capped at 1000
    [30, 50, 1000, 0.5, 500],
    [2, 50, 1000, 0, 0],
    [0, 7, 1000, 0.5, 3], // floored
  ];
  it.each(table)('attempt %i, base %i, cap %i, random %f: %i ms', (attempt, baseMs, capMs, r, wait) => {
    expect(backoffMs(attempt, { retries: 2, baseMs, capMs }, () => r)).toBe(wait);
  });

  it('draws from Math.random by default, within the bound', () => {
    for (let i = 0; i < 100; i++) {
      const w = backoffMs(1, DEFAULT_RETRY);
      expect(Number.isInteger(w) && w >= 0 && w < 100).toBe(true);
    }
    expect(DEFAULT_RETRY).toEqual({ retries: 2, baseMs: 50, capMs: 1_000 });
  });
});

describe('retryable', () => {
  it.each([
    [500, true],
    [502, true],
    [503, true],
    [504, true],
    [599, true],
    [501, false], // Not Implemented: the same answer next time
    [499, false],
    [404, false],
    [304, false],
    [200, false],
  ])('status %i: %s', (status, yes) => {
    expect(retryable({ status })).toBe(yes);
  });

  it.each([
    ['ECONNREFUSED', true],
    ['ECONNRESET', true],
    ['EPIPE', true],
    ['ETIMEDOUT', true],
    ['EHOSTUNREACH', true],
    ['ENETUNREACH', true],
    ['EAI_AGAIN', true],
    ['UND_ERR_SOCKET', true],
    ['UND_ERR_CONNECT_TIMEOUT', true],
    ['UND_ERR_HEADERS_TIMEOUT', true],
    ['UND_ERR_BODY_TIMEOUT', true],
    ['UND_ERR_CLOSED', true],
    ['ENOTFOUND', false], // a name that does not resolve will not resolve on a retry
    ['ERR_INVALID_URL', false],
    ['', false],
    [undefined, false],
  ])('code %s: %s', (code, yes) => {
    expect(retryable({ code })).toBe(yes);
  });
});
