// Load shedding: past saturation, answer at once with a cheap denial (503
// `overloaded`) instead of letting every decision's latency grow without
// bound. Two signals, both read per request in a few nanoseconds:
//
// - Event-loop lag. On one thread, a request that arrives while the loop is
//   busy waits for everything queued before it; how late the loop is running
//   is how long a request arriving now will wait before its decision starts
//   (the deadline only starts counting then). A timer is due every
//   `sample_interval_ms`; the lag is how late it ran — and, while it is
//   overdue, how overdue it is *now*, so that within one long burst of
//   requests (a socket read can carry hundreds) the later ones see the lag
//   they are actually in, not the last sample's.
// - Decisions in flight (waiting on Redis, OpenFGA, a JWKS fetch): past
//   `max_in_flight`, new requests would only queue behind them.
//
// A shed decision runs no stage and is not audited (it grants nothing, and
// auditing it would add to the overload — the audit queue is usually what
// saturates first); it is counted in authz_shed_total{signal} and in
// authz_decisions_total with reason `overloaded`.
import { Counter, type Registry } from 'prom-client';
import { clearTimeout, setTimeout } from 'node:timers';
import type { LoadSheddingConfig } from '../config/schema.js';


export type ShedSignal = 'event_loop_lag' | 'in_flight';

const SHED_METRIC = 'authz_shed_total';

/** One counter per registry, whichever runtime (hot reload builds new ones) asks first. */
function shedCounter(registry: Registry): Counter<'signal'> {
  const existing = registry.getSingleMetric(SHED_METRIC);
  if (existing !== undefined) return existing as Counter<'signal'>;
  return new Counter({
    name: SHED_METRIC,
    help: 'Decisions answered overloaded (503) by load shedding, by the signal that shed them',
    labelNames: ['signal'],
    registers: [registry],
  });
}

export class LoadShedder {
  private lastLagMs = 0;
  private due: number;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private inFlight = 0;
  private readonly counter: Counter<'signal'>;
  private readonly settle = (): void => {
    this.inFlight--;
  };

  constructor(
    private readonly config: LoadSheddingConfig,
    registry: Registry,
    /** performance.now()-based clock; injected by tests. */
    private readonly now: () => number = () => performance.now(),
  ) {
    this.counter = shedCounter(registry);
    this.due = this.now() + config.sample_interval_ms;
    this.arm();
  }

  /** The signal that says shed this request, or undefined; counts what it sheds. */
  check(): ShedSignal | undefined {
    const overdue = this.now() - this.due;
    let signal: ShedSignal | undefined;
    if (this.lastLagMs > this.config.max_event_loop_lag_ms || overdue > this.config.max_event_loop_lag_ms) signal = 'event_loop_lag';
    else if (this.inFlight >= this.config.max_in_flight) signal = 'in_flight';
    if (signal !== undefined) this.counter.inc({ signal });
    return signal;
  }

  /** Counts a decision waiting on I/O until it settles. */
  track(pending: Promise<unknown>): void {
    this.inFlight++;
    pending.then(this.settle, this.settle);
  }

  close(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    this.timer = setTimeout(this.sample, this.config.sample_interval_ms);
    // Never keeps the process alive on its own.
    this.timer.unref();
  }

  private readonly sample = (): void => {
    const now = this.now();
    this.lastLagMs = Math.max(0, now - this.due);
    this.due = now + this.config.sample_interval_ms;
    this.arm();
  };
}
