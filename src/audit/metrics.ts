// Audit metrics on the sidecar's registry. Counters the decision path bumps
// (emitted, dropped on a full queue) are plain numbers folded in at scrape
// time, so enqueueing never touches prom-client.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export class AuditMetrics {
  /** Bumped on the decision path; read at scrape time. */
  emitted = 0;
  droppedQueueFull = 0;

  readonly delivered: Counter<'sink'>;
  readonly spooled: Counter;
  readonly dropped: Counter<'reason'>;
  readonly sinkErrors: Counter<'sink'>;
  readonly sinkLatency: Histogram<'sink'>;

  constructor(registry: Registry, gauges: { queueDepth: () => number; spoolBytes: () => number }) {
    let emittedSeen = 0;
    let droppedSeen = 0;
    const emittedNow = (): number => this.emitted;
    const droppedNow = (): number => this.droppedQueueFull;
    new Counter({
      name: 'audit_events_emitted_total',
      help: 'Decisions handed to the audit pipeline.',
      registers: [registry],
      collect() {
        const now = emittedNow();
        const d = now - emittedSeen;
        emittedSeen = now;
        if (d > 0) this.inc(d);
      },
    });
    this.delivered = new Counter({
      name: 'audit_events_delivered_total',
      help: 'Audit events acknowledged by a sink (kafka: acks=all; jsonl: written; stdout: written).',
      labelNames: ['sink'] as const,
      registers: [registry],
    });
    this.spooled = new Counter({
      name: 'audit_events_spooled_total',
      help: 'Audit events written to the local spool because Kafka was unavailable, slow or shutting down.',
      registers: [registry],
    });
    this.dropped = new Counter({
      name: 'audit_events_dropped_total',
      help: 'Audit events lost: queue_full (on_full=drop, or a deny while audit is unavailable), spool_full, sink_error.',
      labelNames: ['reason'] as const,
      registers: [registry],
      collect() {
        const now = droppedNow();
        const d = now - droppedSeen;
        droppedSeen = now;
        if (d > 0) this.inc({ reason: 'queue_full' }, d);
      },
    });
    this.sinkErrors = new Counter({
      name: 'audit_sink_errors_total',
      help: 'Failed delivery attempts by sink (the events are retried or spooled, not lost).',
      labelNames: ['sink'] as const,
      registers: [registry],
    });
    this.sinkLatency = new Histogram({
      name: 'audit_sink_latency_seconds',
      help: 'Time to deliver one batch to a sink.',
      labelNames: ['sink'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    });
    new Gauge({
      name: 'audit_queue_depth',
      help: 'Audit events waiting in memory.',
      registers: [registry],
      collect() {
        this.set(gauges.queueDepth());
      },
    });
    new Gauge({
      name: 'audit_spool_bytes',
      help: 'Bytes of undelivered events in the local spool.',
      registers: [registry],
      collect() {
        this.set(gauges.spoolBytes());
      },
    });
  }
}
