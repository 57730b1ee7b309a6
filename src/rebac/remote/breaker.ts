// A circuit breaker in front of OpenFGA. Closed: calls go through, and
// `failureThreshold` consecutive failures open it. Open: every call is refused
// at once (the stage denies rebac_unavailable without waiting on a dead
// server). After `openMs` one probe call is let through (half-open): success
// closes the breaker, failure opens it for another `openMs`.

/** Values are the `authz_rebac_breaker_state` gauge's. */
export const BreakerState = { Closed: 0, Open: 1, HalfOpen: 2 } as const;
export type BreakerState = (typeof BreakerState)[keyof typeof BreakerState];

export interface BreakerOptions {
  failureThreshold: number;
  openMs: number;
  onStateChange?: (state: BreakerState) => void;
  /** Monotonic milliseconds; injectable for tests. */
  now?: () => number;
}

export class CircuitBreaker {
  private current: BreakerState = BreakerState.Closed;
  private failures = 0;
  private openedAt = 0;
  private probeInFlight = false;
  private readonly now: () => number;

  constructor(private readonly opts: BreakerOptions) {
    this.now = opts.now ?? (() => performance.now());
  }

  get state(): BreakerState {
    return this.current;
  }

  /** True when a call may go upstream now; the caller must then report its outcome. */
  tryAcquire(): boolean {
    switch (this.current) {
      case BreakerState.Closed:
        return true;
      case BreakerState.Open:
        if (this.now() - this.openedAt < this.opts.openMs) return false;
        this.transition(BreakerState.HalfOpen);
        this.probeInFlight = true;
        return true;
      case BreakerState.HalfOpen:
        if (this.probeInFlight) return false;
        this.probeInFlight = true;
        return true;
    }
  }

  onSuccess(): void {
    this.failures = 0;
    this.probeInFlight = false;
    if (this.current !== BreakerState.Closed) this.transition(BreakerState.Closed);
  }

  onFailure(): void {
    this.probeInFlight = false;
    if (this.current === BreakerState.HalfOpen) {
      this.open();
      return;
    }
    this.failures++;
    if (this.current === BreakerState.Closed && this.failures >= this.opts.failureThreshold) this.open();
  }

  private open(): void {
    this.openedAt = this.now();
    this.transition(BreakerState.Open);
  }

  private transition(next: BreakerState): void {
    this.current = next;
    this.opts.onStateChange?.(next);
  }
}
