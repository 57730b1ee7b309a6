// One prom-client registry per sidecar instance (tests run several in one
// process). Rooms add their own metrics to `registry`; the ones every decision
// touches live here so the hot path reaches them without a lookup by name.
import { Counter, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import { CellCounter, type CountCell } from './cell-counter.js';

/**
 * prom-client's process and Node.js metrics on `registry`, less the three
 * sums it also exports as gauges named *_total, which `promtool check
 * metrics` rejects (a _total is a counter); the per-type gauges
 * (nodejs_active_handles{type} ...) carry the same numbers. Every process
 * that serves a /metrics (the sidecar, the injector) registers them here.
 */
export function registerDefaultMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(name);
  }
}

export class SidecarMetrics {
  readonly registry = new Registry();

  // The two metrics every decision touches are kept out of prom-client's
  // per-call path: counts in plain cells (observability/cell-counter.ts), the
  // latency histogram in its own bucket arrays (DecisionLatencyHistogram below).
  private readonly decisionCells = CellCounter.on(this.registry, 'authz_decisions_total',
    'Decisions by result (allow, deny, dryrun_allow, warn_allow), reason code and deciding stage.', ['result', 'reason', 'stage'] as const);
  readonly decisions = this.decisionCells.counter;

  readonly decisionSeconds = new DecisionLatencyHistogram(
    'authz_decision_duration_seconds',
    'Time from request normalized to decision made.',
    [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
    this.registry,
  );

  readonly identityFailures = new Counter({
    name: 'authz_identity_failures_total',
    help: 'Requests whose credentials were missing or unusable, by reason code.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly configReloads = new Counter({
    name: 'authz_config_reloads_total',
    help: 'Config reload attempts by outcome (success, failure).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  /** The cell counted last: consecutive decisions usually share their labels. */
  private lastDecision: CountCell<'result' | 'reason' | 'stage'> | undefined;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics ?? true) registerDefaultMetrics(this.registry);
  }

  countDecision(result: string, reason: string, stage: string): void {
    let cell = this.lastDecision;
    if (cell === undefined || cell.labels.result !== result || cell.labels.reason !== reason || cell.labels.stage !== stage) {
      cell = this.decisionCells.cell({ result, reason, stage });
      this.lastDecision = cell;
    }
    cell.pending++;
  }

  observeDecision(transport: string, seconds: number): void {
    this.decisionSeconds.observe(transport, seconds);
  }
}

interface HistogramValue {
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
  readonly metricName: string;
}

/** One label value's buckets (not cumulative), sum and count. */
interface LatencySeries {
  readonly buckets: Float64Array;
  sum: number;
  count: number;
}

/**
 * A histogram with one label (`transport` unless told otherwise) that
 * registers itself on a prom-client Registry and renders exactly like a
 * prom-client Histogram (`_bucket{le=…}` cumulative, `+Inf`, `_sum`,
 * `_count`). observe() is a bucket search over a typed array and two
 * additions. Also used by the inline proxy (label `upstream`).
 */
export class DecisionLatencyHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly bounds: Float64Array;
  private series = new Map<string, LatencySeries>();

  constructor(
    readonly name: string,
    readonly help: string,
    bounds: readonly number[],
    registry: Registry,
    private readonly labelName = 'transport',
  ) {
    this.bounds = Float64Array.from(bounds);
    registry.registerMetric(this as unknown as Metric);
  }

  observe(labelValue: string, seconds: number): void {
    let s = this.series.get(labelValue);
    if (s === undefined) {
      s = { buckets: new Float64Array(this.bounds.length), sum: 0, count: 0 };
      this.series.set(labelValue, s);
    }
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && seconds > bounds[i]!) i++;
    if (i < bounds.length) s.buckets[i]!++;
    s.sum += seconds;
    s.count++;
  }

  /** What prom-client's Registry reads from a metric (its own Histogram's get() shape). */
  get(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: HistogramValue[] }> {
    const values: HistogramValue[] = [];
    const bucketName = `${this.name}_bucket`;
    for (const [labelValue, s] of this.series) {
      const label = { [this.labelName]: labelValue };
      let cumulative = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        cumulative += s.buckets[i]!;
        values.push({ labels: { le: this.bounds[i]!, ...label }, value: cumulative, metricName: bucketName });
      }
      values.push({ labels: { le: '+Inf', ...label }, value: s.count, metricName: bucketName });
      values.push({ labels: label, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: label, value: s.count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  reset(): void {
    this.series = new Map();
  }
}
