// One prom-client registry per sidecar instance (tests run several in one
// process). Rooms add their own metrics to `registry`; the ones every decision
// touches live here so the hot path reaches them without a lookup by name.
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class SidecarMetrics {
  readonly registry = new Registry();

  readonly decisions = new Counter({
    name: 'authz_decisions_total',
    help: 'Decisions by result (allow, deny, dryrun_allow, warn_allow), reason code and deciding stage.',
    labelNames: ['result', 'reason', 'stage'] as const,
    registers: [this.registry],
  });

  readonly decisionSeconds = new Histogram({
    name: 'authz_decision_duration_seconds',
    help: 'Time from request normalized to decision made.',
    labelNames: ['transport'] as const,
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
    registers: [this.registry],
  });

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

  // prom-client hashes the label object on every inc(); the label sets on the
  // hot path are few, so their children are looked up once and kept.
  private readonly decisionChildren = new Map<string, { inc(): void }>();
  private readonly latencyChildren = new Map<string, { observe(v: number): void }>();

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  countDecision(result: string, reason: string, stage: string): void {
    const key = `${result}\u0000${reason}\u0000${stage}`;
    let child = this.decisionChildren.get(key);
    if (child === undefined) {
      child = this.decisions.labels(result, reason, stage);
      this.decisionChildren.set(key, child);
    }
    child.inc();
  }

  observeDecision(transport: string, seconds: number): void {
    let child = this.latencyChildren.get(transport);
    if (child === undefined) {
      child = this.decisionSeconds.labels(transport);
      this.latencyChildren.set(transport, child);
    }
    child.observe(seconds);
  }
}
