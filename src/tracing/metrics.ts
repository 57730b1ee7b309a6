// The tracing room's Prometheus metrics: what happened to each sampled span.
import { Counter, type Registry } from 'prom-client';

export type SpanOutcome = 'exported' | 'dropped_queue_full' | 'dropped_export_failed';

export class TracingMetrics {
  readonly spans: Counter<'outcome'>;

  constructor(registry: Registry) {
    const name = 'authz_trace_spans_total';
    this.spans = (registry.getSingleMetric(name) as Counter<'outcome'> | undefined) ?? new Counter({
      name,
      help: 'Sampled decision spans by outcome: exported, dropped_queue_full (the export queue was full), dropped_export_failed (the collector refused, timed out or was down).',
      labelNames: ['outcome'] as const,
      registers: [registry],
    });
    for (const outcome of ['exported', 'dropped_queue_full', 'dropped_export_failed'] as const) this.spans.inc({ outcome }, 0);
  }
}
