// Load shedding: past saturation, answer at once with a cheap denial (503
// `overloaded`) instead of letting every decision's latency grow without
// bound. Two signals, both read per request in a few nanoseconds:
//
// - Event-loop lag. On one thread, a request that arrives while the loop is
//   busy waits for everything queued before it; how late the loop is running
//   is how long a request arriving now will wait before its decision starts
//   (the deadline only starts counting then). A timer is due every
//   `sample_interval_ms`; the lag is how late it ran. It sheds in two ways:
//   * while the timer is overdue by more than `max_event_loop_lag_ms` *now*,
//     every request is shed, so that within one long burst (a socket read
//     can carry hundreds of requests) the later ones do not wait behind the
//     earlier ones' decisions;
//   * a shed *fraction* of the other requests, adjusted at every sample: it
//     grows while the loop is saturated (busy through the whole sample: it
//     never waited for I/O, so requests are waiting in its sockets) and late
//     (more than a quarter of the limit), and decays while the loop waits
//     for I/O again. Shedding only while late cannot bound latency: the loop
//     then alternates between bursts it decides and bursts it sheds, answers
//     about what it answered at saturation, and the backlog grows where the
//     sidecar cannot see it (the kernel's socket buffers, the clients'
//     streams). A steady fraction makes the average request cheap enough (a
//     shed answer costs a fraction of a full decision) that the sidecar
//     answers as fast as requests come, so the backlog drains. Busy but on
//     time (a few streams kept busy, nothing waiting) sheds nothing.
// - Decisions in flight (waiting on Redis, OpenFGA, a JWKS fetch): past
//   `max_in_flight`, new requests would only queue behind them.
//
// A shed decision runs no stage and is not audited (it grants nothing, and
// auditing it would add to the overload — the audit queue is usually what
// saturates first); it is counted in authz_shed_total{signal} and in
// authz_decisions_total with reason `overloaded`; the fraction is the gauge
// authz_shed_fraction.
import { Gauge, type Registry } from 'prom-client';
import { CellCounter, type CountCell } from '../observability/cell-counter.js';
import { clearTimeout, setTimeout } from 'node:timers';
import { performance } from 'node:perf_hooks';
import type { LoadSheddingConfig } from '../config/schema.js';

export type ShedSignal = 'event_loop_lag' | 'in_flight';

const SHED_METRIC = 'authz_shed_total';
const FRACTION_METRIC = 'authz_shed_fraction';

/** The loop busy more than this share of a sample's time: saturated (it never waited for a request). */
const SATURATED = 0.97;
/** Busy less than this share: it waits for requests, so it answers them as fast as they come. */
const KEEPING_UP = 0.9;
/** Added to the fraction per ms of saturated, late loop: 0.1 per 25 ms turn. */
const FRACTION_STEP_PER_MS = 0.004;
/** At most this much per sample: one long pause (a mark-compact of 100 ms under load) must not shed a quarter of the traffic for seconds after it. */
const MAX_FRACTION_STEP = 0.05;
/** Never shed every request by fraction: some real decisions keep the signal honest. */
const MAX_FRACTION = 0.95;
/** While the loop keeps up, the fraction halves every this many ms. */
const FRACTION_HALF_LIFE_MS = 500;
/** Below this the fraction is zero: no residual shedding on an idle sidecar. */
const MIN_FRACTION = 0.005;

interface ShedMetrics {
  /** Per signal: counted per shed request, which past saturation is most requests. */
  readonly shed: Readonly<Record<ShedSignal, CountCell<'signal'>>>;
  /** The shedders of this registry's runtimes (hot reload builds new ones): the gauge reads the newest. */
  readonly shedders: LoadShedder[];
}

const metricsByRegistry = new WeakMap<Registry, ShedMetrics>();

/** One counter and gauge per registry, whichever runtime asks first. */
function shedMetrics(registry: Registry): ShedMetrics {
  const known = metricsByRegistry.get(registry);
  if (known !== undefined) return known;
  const shedders: LoadShedder[] = [];
  const counter = CellCounter.on(registry, SHED_METRIC,
    'Decisions answered overloaded (503) by load shedding, by the signal that shed them', ['signal']);
  new Gauge({
    name: FRACTION_METRIC,
    help: 'Share of requests load shedding answers overloaded while the event loop is on time (0 when not overloaded)',
    registers: [registry],
    collect() {
      this.set(shedders.at(-1)?.shedFraction ?? 0);
    },
  });
  const made: ShedMetrics = {
    shed: { event_loop_lag: counter.cell({ signal: 'event_loop_lag' }), in_flight: counter.cell({ signal: 'in_flight' }) },
    shedders,
  };
  metricsByRegistry.set(registry, made);
  return made;
}

export class LoadShedder {
  private due: number;
  private lastSampleAt: number;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private inFlight = 0;
  private closed = false;
  private fraction = 0;
  /** Fraction shedding is deterministic: every request adds the fraction, one is shed per whole unit. */
  private credit = 0;
  private readonly metrics: ShedMetrics;
  private readonly settle = (): void => {
    this.inFlight--;
  };

  constructor(
    private readonly config: LoadSheddingConfig,
    registry: Registry,
    /** performance.now()-based clock; injected by tests. */
    private readonly now: () => number = () => performance.now(),
    /** The loop's busy share since the last call; injected by tests. */
    private readonly loopUtilization: () => number = loopUtilizationMeter(),
  ) {
    this.metrics = shedMetrics(registry);
    this.metrics.shedders.push(this);
    this.lastSampleAt = this.now();
    this.due = this.lastSampleAt + config.sample_interval_ms;
    this.arm();
  }

  /** The share of on-time requests being shed now (authz_shed_fraction). */
  get shedFraction(): number {
    return this.fraction;
  }

  /** The signal that says shed this request, or undefined; counts what it sheds. */
  check(): ShedSignal | undefined {
    let signal: ShedSignal | undefined;
    if (this.now() - this.due > this.config.max_event_loop_lag_ms) signal = 'event_loop_lag';
    else if (this.fraction > 0 && (this.credit += this.fraction) >= 1) {
      this.credit -= 1;
      signal = 'event_loop_lag';
    } else if (this.inFlight >= this.config.max_in_flight) signal = 'in_flight';
    if (signal !== undefined) this.metrics.shed[signal].pending++;
    return signal;
  }

  /** Counts a decision waiting on I/O until it settles. */
  track(pending: Promise<unknown>): void {
    this.inFlight++;
    pending.then(this.settle, this.settle);
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const i = this.metrics.shedders.indexOf(this);
    if (i >= 0) this.metrics.shedders.splice(i, 1);
  }

  private arm(): void {
    this.timer = setTimeout(this.sample, this.config.sample_interval_ms);
    // Never keeps the process alive on its own.
    this.timer.unref();
  }

  /** Its timer's work, every `sample_interval_ms`; tests call it to stand for a timer that ran. */
  readonly sample = (): void => {
    if (this.closed) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    const now = this.now();
    this.adjust(Math.max(0, now - this.due), now - this.lastSampleAt, this.loopUtilization());
    this.lastSampleAt = now;
    this.due = now + this.config.sample_interval_ms;
    this.arm();
  };

  /**
   * One sample: `lagMs` late, `elapsedMs` after the one before, the loop busy for
   * `utilization` of that time. Past saturation the loop never waits for I/O
   * (there is always a request in a socket) and runs late; the fraction grows
   * until the sidecar answers as fast as requests come, which shows as the loop
   * waiting again — then it decays, and settles where the loop is just not full.
   * Busy but on time (a few clients keeping a few streams each busy, no backlog
   * anywhere) sheds nothing.
   */
  private adjust(lagMs: number, elapsedMs: number, utilization: number): void {
    if (utilization > SATURATED && lagMs > this.config.max_event_loop_lag_ms / 4) {
      this.fraction = Math.min(MAX_FRACTION, this.fraction + Math.min(MAX_FRACTION_STEP, FRACTION_STEP_PER_MS * elapsedMs));
    } else if (utilization < KEEPING_UP && this.fraction > 0) {
      this.fraction *= 0.5 ** (elapsedMs / FRACTION_HALF_LIFE_MS);
      if (this.fraction < MIN_FRACTION) this.fraction = 0;
    }
    if (this.fraction === 0) this.credit = 0;
  }
}

/** The loop's busy share between calls, from libuv's idle time (the loop waiting for I/O). */
function loopUtilizationMeter(): () => number {
  let last = performance.eventLoopUtilization();
  return () => {
    const now = performance.eventLoopUtilization();
    const since = performance.eventLoopUtilization(now, last);
    last = now;
    return since.utilization;
  };
}
