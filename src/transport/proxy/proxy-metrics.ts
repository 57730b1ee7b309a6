// The proxy's own metrics: what happened to each forwarded request, by
// upstream and outcome, and how long the upstream took to answer.
//
// Both are touched by every forwarded request, so they stay off prom-client's
// per-call path (which validates and hashes the labels on each inc() and
// observe(), labelled child or not): outcomes are counted in plain cells and
// handed to the Counter when it is collected, and the latency histogram is
// the sidecar's own bucket-array histogram (observability/metrics.ts).
import { Counter } from 'prom-client';
import { DecisionLatencyHistogram, type SidecarMetrics } from '../../observability/metrics.js';

export type ProxyOutcome =
  | 'ok' | 'upstream_unavailable' | 'upstream_timeout' | 'body_too_large' | 'upload_timeout' | 'client_abort'
  | 'upgraded';

export interface ProxyMetrics {
  count(outcome: ProxyOutcome): void;
  observeResponse(seconds: number): void;
}

export function createProxyMetrics(metrics: SidecarMetrics, upstream: string): ProxyMetrics {
  const pending = new Map<ProxyOutcome, number>();
  let ok = 0;
  const requests = new Counter({
    name: 'authz_proxy_upstream_requests_total',
    help: 'Allowed requests forwarded by the inline proxy, by upstream and outcome (ok, upstream_unavailable, upstream_timeout, body_too_large, upload_timeout, client_abort, upgraded).',
    labelNames: ['upstream', 'outcome'] as const,
    registers: [metrics.registry],
    collect: () => {
      if (ok > 0) pending.set('ok', (pending.get('ok') ?? 0) + ok);
      ok = 0;
      for (const [outcome, n] of pending) if (n > 0) requests.inc({ upstream, outcome }, n);
      pending.clear();
    },
  });
  const seconds = new DecisionLatencyHistogram(
    'authz_proxy_upstream_response_seconds',
    'Time from forwarding a request to the upstream\'s response headers.',
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30],
    metrics.registry,
    'upstream',
  );
  return {
    count(outcome) {
      if (outcome === 'ok') ok++;
      else pending.set(outcome, (pending.get(outcome) ?? 0) + 1);
    },
    observeResponse: (s) => seconds.observe(upstream, s),
  };
}
