// The proxy's own metrics: what happened to each forwarded request, by
// upstream and outcome, and how long the upstream took to answer.
import { Counter, Histogram } from 'prom-client';
import type { SidecarMetrics } from '../../observability/metrics.js';

export type ProxyOutcome =
  | 'ok' | 'upstream_unavailable' | 'upstream_timeout' | 'body_too_large' | 'upload_timeout' | 'client_abort'
  | 'upgraded';

export interface ProxyMetrics {
  count(outcome: ProxyOutcome): void;
  observeResponse(seconds: number): void;
}

export function createProxyMetrics(metrics: SidecarMetrics, upstream: string): ProxyMetrics {
  const requests = new Counter({
    name: 'authz_proxy_upstream_requests_total',
    help: 'Allowed requests forwarded by the inline proxy, by upstream and outcome (ok, upstream_unavailable, upstream_timeout, body_too_large, upload_timeout, client_abort, upgraded).',
    labelNames: ['upstream', 'outcome'] as const,
    registers: [metrics.registry],
  });
  const seconds = new Histogram({
    name: 'authz_proxy_upstream_response_seconds',
    help: 'Time from forwarding a request to the upstream\'s response headers.',
    labelNames: ['upstream'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30],
    registers: [metrics.registry],
  });
  // Children resolved once: prom-client hashes a label object on every call otherwise.
  const byOutcome = new Map<ProxyOutcome, ReturnType<typeof requests.labels>>();
  const timer = seconds.labels(upstream);
  return {
    count(outcome) {
      let child = byOutcome.get(outcome);
      if (child === undefined) byOutcome.set(outcome, (child = requests.labels(upstream, outcome)));
      child.inc();
    },
    observeResponse: (s) => timer.observe(s),
  };
}
