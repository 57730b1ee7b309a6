// The policy room's metrics, on the sidecar's registry. Labels are bounded:
// outcome is success | failure, kind an EvalFailureKind or bad_result.
import { Counter, Gauge, type Registry } from 'prom-client';

export class PolicyMetrics {
  readonly bundleLoads: Counter<'outcome'>;
  readonly lastSuccess: Gauge;
  readonly evalFailures: Counter<'kind'>;
  readonly dirWalks: Counter;
  readonly limitRefusals: Counter<'limit'>;
  private readonly failureChildren = new Map<string, { inc(): void }>();

  constructor(registry: Registry) {
    this.bundleLoads = reuse(registry, 'authz_policy_bundle_loads_total', () => new Counter({
      name: 'authz_policy_bundle_loads_total',
      help: 'Policy bundle activations by outcome (success; failure: the last good bundle stays in place).',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }));
    this.lastSuccess = reuse(registry, 'authz_policy_bundle_last_success_timestamp_seconds', () => new Gauge({
      name: 'authz_policy_bundle_last_success_timestamp_seconds',
      help: 'When the policy bundle in use was activated (Unix seconds).',
      registers: [registry],
    }));
    this.evalFailures = reuse(registry, 'authz_policy_evaluation_failures_total', () => new Counter({
      name: 'authz_policy_evaluation_failures_total',
      help: 'Policy evaluations that denied policy_error, by kind (trap, memory, abort, timeout, error, bad_result, no_entrypoint).',
      labelNames: ['kind'] as const,
      registers: [registry],
    }));
    this.dirWalks = reuse(registry, 'authz_policy_bundle_dir_walks_total', () => new Counter({
      name: 'authz_policy_bundle_dir_walks_total',
      help: 'Walks of a bundle directory (bounded by max_files / max_bytes); a quiet directory is not walked again until it changes.',
      registers: [registry],
    }));
    this.limitRefusals = reuse(registry, 'authz_policy_bundle_limit_refusals_total', () => new Counter({
      name: 'authz_policy_bundle_limit_refusals_total',
      help: 'Bundles refused by a limit: data_entries, data_depth, files, bytes, parse_memory, parse_timeout.',
      labelNames: ['limit'] as const,
      registers: [registry],
    }));
  }

  countEvalFailure(kind: string): void {
    let child = this.failureChildren.get(kind);
    if (child === undefined) {
      child = this.evalFailures.labels(kind);
      this.failureChildren.set(kind, child);
    }
    child.inc();
  }
}

// Several policy capabilities may share one registry (tests, a reload that
// builds a new one): reuse a metric that already exists rather than throw.
function reuse<M>(registry: Registry, name: string, make: () => M): M {
  const existing = registry.getSingleMetric(name);
  return existing === undefined ? make() : (existing as M);
}
