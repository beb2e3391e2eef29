/**
 * A circuit breaker per origin: after `threshold` failures in a row the origin is taken as down
 * and requests fail at once (stale copies answer for it) instead of each waiting for a timeout.
 * After a cool-down one probe may go through (half-open); its success closes the breaker, its
 * failure opens it again for twice as long, up to `maxOpenMs`.
 */

export interface BreakerOptions {
  readonly threshold: number;
  readonly openMs: number;
  readonly maxOpenMs: number;
}

export const DEFAULT_BREAKER: BreakerOptions = { threshold: 5, openMs: 1_000, maxOpenMs: 30_000 };

export type BreakerState = 'closed' | 'open' | 'half-open';

export class Breaker {
  private failures = 0;
  private openUntil = 0;
  private openFor: number;
  private probing = false;

  constructor(
    private readonly o: BreakerOptions = DEFAULT_BREAKER,
    private readonly now: () => number = Date.now,
  ) {
    this.openFor = o.openMs;
  }

  get state(): BreakerState {
    if (this.failures < this.o.threshold) return 'closed';
    return this.now() < this.openUntil ? 'open' : 'half-open';
  }

  /** May a request go to the origin now? In half-open, one probe at a time. */
  allow(): boolean {
    switch (this.state) {
      case 'closed':
        return true;
      case 'open':
        return false;
      case 'half-open':
        if (this.probing) return false;
        this.probing = true;
        return true;
    }
  }

  success(): void {
    this.failures = 0;
    this.probing = false;
    this.openFor = this.o.openMs;
  }

  failure(): void {
    const wasProbe = this.probing;
    this.probing = false;
    if (++this.failures < this.o.threshold) return;
    if (wasProbe) this.openFor = Math.min(this.o.maxOpenMs, this.openFor * 2);
    this.openUntil = this.now() + this.openFor;
  }
}
