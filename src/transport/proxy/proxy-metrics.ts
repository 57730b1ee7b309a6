// The proxy's own metrics: what happened to each forwarded request, by
// upstream and outcome, and how long the upstream took to answer.
//
// Both are touched by every forwarded request, so they stay off prom-client's
// per-call path (which validates and hashes the labels on each inc() and
// observe(), labelled child or not): outcomes are counted in plain cells
// (observability/cell-counter.ts), and the latency histogram is the
// sidecar's own bucket-array histogram (observability/metrics.ts).
import { CellCounter } from '../../observability/cell-counter.js';
import { DecisionLatencyHistogram, type SidecarMetrics } from '../../observability/metrics.js';

export type ProxyOutcome =
  | 'ok' | 'upstream_unavailable' | 'upstream_timeout' | 'body_too_large' | 'upload_timeout' | 'client_abort'
  | 'upgraded';

export interface ProxyMetrics {
  count(outcome: ProxyOutcome): void;
  observeResponse(seconds: number): void;
}

export function createProxyMetrics(metrics: SidecarMetrics, upstream: string): ProxyMetrics {
  const requests = CellCounter.on(metrics.registry, 'authz_proxy_upstream_requests_total',
    'Allowed requests forwarded by the inline proxy, by upstream and outcome (ok, upstream_unavailable, upstream_timeout, body_too_large, upload_timeout, client_abort, upgraded).',
    ['upstream', 'outcome']);
  const ok = requests.cell({ upstream, outcome: 'ok' });
  const seconds = new DecisionLatencyHistogram(
    'authz_proxy_upstream_response_seconds',
    'Time from forwarding a request to the upstream\'s response headers.',
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30],
    metrics.registry,
    'upstream',
  );
  return {
    count(outcome) {
      (outcome === 'ok' ? ok : requests.cell({ upstream, outcome })).pending++;
    },
    observeResponse: (s) => seconds.observe(upstream, s),
  };
}
