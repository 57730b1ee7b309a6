// The rebac room's Prometheus metrics, on the sidecar's registry. A registry
// may already hold them (several capabilities in one test process share
// nothing, but a re-created capability on the same registry must not throw).
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';

function reuse<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export class RebacMetrics {
  readonly cacheHits: Counter;
  readonly cacheMisses: Counter;
  readonly cacheEvictions: Counter<'reason'>;
  readonly coalesced: Counter;
  readonly cacheBypassed: Counter;
  readonly upstreamSeconds: Histogram<'op'>;
  readonly upstreamErrors: Counter<'op' | 'kind'>;
  readonly breakerState: Gauge;
  readonly breakerRejected: Counter;
  readonly changesApplied: Counter;
  readonly modelReloads: Counter<'outcome'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.cacheHits = reuse(registry, 'authz_rebac_cache_hits_total', () =>
      new Counter({ name: 'authz_rebac_cache_hits_total', help: 'Remote-mode checks answered from the decision cache.', registers }));
    this.cacheMisses = reuse(registry, 'authz_rebac_cache_misses_total', () =>
      new Counter({ name: 'authz_rebac_cache_misses_total', help: 'Remote-mode checks not in the decision cache.', registers }));
    this.cacheEvictions = reuse(registry, 'authz_rebac_cache_evictions_total', () =>
      new Counter({
        name: 'authz_rebac_cache_evictions_total',
        help: 'Cached decisions removed: capacity (LRU), invalidation (change feed) or expired (TTL).',
        labelNames: ['reason'] as const,
        registers,
      }));
    this.coalesced = reuse(registry, 'authz_rebac_coalesced_total', () =>
      new Counter({ name: 'authz_rebac_coalesced_total', help: 'Checks that joined an identical in-flight upstream call.', registers }));
    this.cacheBypassed = reuse(registry, 'authz_rebac_cache_bypassed_total', () =>
      new Counter({ name: 'authz_rebac_cache_bypassed_total', help: 'Checks sent with HIGHER_CONSISTENCY: the decision cache neither read nor written.', registers }));
    this.upstreamSeconds = reuse(registry, 'authz_rebac_upstream_seconds', () =>
      new Histogram({
        name: 'authz_rebac_upstream_seconds',
        help: 'OpenFGA call latency by operation (check, batch_check, read_changes, read_model), successful calls.',
        labelNames: ['op'] as const,
        buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
        registers,
      }));
    this.upstreamErrors = reuse(registry, 'authz_rebac_upstream_errors_total', () =>
      new Counter({
        name: 'authz_rebac_upstream_errors_total',
        help: 'Failed OpenFGA calls by operation and kind (timeout, refused, network, http_5xx, http_429, auth, not_found, bad_request, malformed, too_large, redirect, other).',
        labelNames: ['op', 'kind'] as const,
        registers,
      }));
    this.breakerState = reuse(registry, 'authz_rebac_breaker_state', () =>
      new Gauge({ name: 'authz_rebac_breaker_state', help: 'Circuit breaker in front of OpenFGA: 0 closed, 1 open, 2 half-open.', registers }));
    this.breakerRejected = reuse(registry, 'authz_rebac_breaker_rejected_total', () =>
      new Counter({ name: 'authz_rebac_breaker_rejected_total', help: 'Checks denied without calling OpenFGA because the breaker was open.', registers }));
    this.changesApplied = reuse(registry, 'authz_rebac_changes_total', () =>
      new Counter({ name: 'authz_rebac_changes_total', help: 'Tuple changes read from the OpenFGA ReadChanges feed.', registers }));
    this.modelReloads = reuse(registry, 'authz_rebac_model_reloads_total', () =>
      new Counter({
        name: 'authz_rebac_model_reloads_total',
        help: 'Embedded model/tuples reloads by outcome (success, failure).',
        labelNames: ['outcome'] as const,
        registers,
      }));
  }
}
