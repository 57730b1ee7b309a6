// Audit metrics on the sidecar's registry. What the decision thread bumps
// (emitted, written to the trail, dropped) are plain numbers folded in at
// scrape time, so an append never touches prom-client. Shipping figures
// arrive from the shipper thread as progress reports.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface AuditGauges {
  readonly trailBytes: () => number;
  readonly backlogBytes: (sink: string) => number;
  readonly oldestUnshippedAgeSeconds: (sink: string) => number;
  readonly sinkUp: (sink: string) => boolean;
  readonly chainBreaks: () => number;
  readonly trailErrors: () => { write: number; fsync: number; head: number };
}

/** A counter whose value lives in a plain number (bumped on the hot path) and is folded in at scrape. */
function foldedCounter(registry: Registry, name: string, help: string, labels: Record<string, string>, read: () => number): void {
  let seen = 0;
  const labelNames = Object.keys(labels);
  new Counter({
    name, help, labelNames, registers: [registry],
    collect() {
      const now = read();
      if (now > seen) this.inc(labels, now - seen);
      seen = now;
    },
  });
}

export class AuditMetrics {
  /** Bumped on the decision thread; read at scrape time. */
  emitted = 0;
  written = 0;
  stdoutWritten = 0;
  droppedTrailFull = 0;
  droppedTrailError = 0;

  readonly delivered: Counter<'sink'>;
  readonly dropped: Counter<'reason'>;
  readonly sinkErrors: Counter<'sink'>;
  readonly sinkLatency: Histogram<'sink'>;
  readonly quarantined: Counter<'sink'>;
  readonly checkpointResets: Counter<'sink'>;
  readonly shipperRestarts: Counter;
  readonly tornTails: Counter;

  constructor(registry: Registry, remoteSinks: readonly string[], gauges: AuditGauges) {
    foldedCounter(registry, 'audit_events_emitted_total', 'Decisions handed to audit.', {}, () => this.emitted);
    let writtenSeen = 0;
    let stdoutSeen = 0;
    const local = (): { written: number; stdout: number } => ({ written: this.written, stdout: this.stdoutWritten });
    this.delivered = new Counter({
      name: 'audit_events_delivered_total',
      help: 'Audit events in a sink: jsonl = appended to the write-ahead trail (before the answer left); stdout = written; '
        + 'a remote sink (kafka) = acknowledged (acks=all), shipped from the trail.',
      labelNames: ['sink'] as const,
      registers: [registry],
      collect() {
        const now = local();
        if (now.written > writtenSeen) this.inc({ sink: 'jsonl' }, now.written - writtenSeen);
        if (now.stdout > stdoutSeen) this.inc({ sink: 'stdout' }, now.stdout - stdoutSeen);
        writtenSeen = now.written;
        stdoutSeen = now.stdout;
      },
    });
    let fullSeen = 0;
    let errorSeen = 0;
    const drops = (): { full: number; error: number } => ({ full: this.droppedTrailFull, error: this.droppedTrailError });
    this.dropped = new Counter({
      name: 'audit_events_dropped_total',
      help: 'Decisions with no audit event: trail_full (max_bytes, nothing shipped to delete), trail_error (the disk failed). '
        + 'With on_full=deny those requests were denied audit_unavailable; with drop they were served.',
      labelNames: ['reason'] as const,
      registers: [registry],
      collect() {
        const now = drops();
        if (now.full > fullSeen) this.inc({ reason: 'trail_full' }, now.full - fullSeen);
        if (now.error > errorSeen) this.inc({ reason: 'trail_error' }, now.error - errorSeen);
        fullSeen = now.full;
        errorSeen = now.error;
      },
    });
    new Gauge({
      name: 'authz_audit_trail_bytes', help: 'Bytes in the write-ahead trail segments (bounded by max_bytes).', registers: [registry],
      collect() {
        this.set(gauges.trailBytes());
      },
    });
    new Gauge({
      name: 'authz_audit_chain_breaks',
      help: 'Chain breaks recorded in audit-breaks.jsonl (an edited, removed or cut line found at start; audit verify fails on them).',
      registers: [registry],
      collect() {
        this.set(gauges.chainBreaks());
      },
    });
    new Gauge({
      name: 'authz_audit_trail_errors', help: 'Trail I/O failures since start, by operation (write, fsync, head).',
      labelNames: ['op'] as const, registers: [registry],
      collect() {
        const e = gauges.trailErrors();
        this.set({ op: 'write' }, e.write);
        this.set({ op: 'fsync' }, e.fsync);
        this.set({ op: 'head' }, e.head);
      },
    });
    this.tornTails = new Counter({
      name: 'authz_audit_torn_tails_recovered_total',
      help: 'Torn last lines (a crash in the middle of an append) cut off at start; their answers never left.',
      registers: [registry],
    });
    this.sinkErrors = new Counter({
      name: 'audit_sink_errors_total',
      help: 'Failed delivery attempts by sink (retried from the trail, never lost).',
      labelNames: ['sink'] as const,
      registers: [registry],
    });
    this.sinkLatency = new Histogram({
      name: 'audit_sink_latency_seconds',
      help: 'Time to deliver one batch to a remote sink (on the shipper thread).',
      labelNames: ['sink'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    });
    this.quarantined = new Counter({
      name: 'authz_audit_quarantined_total',
      help: 'Corrupt trail records a sink skipped (copied to audit-quarantine-<sink>.jsonl).',
      labelNames: ['sink'] as const,
      registers: [registry],
    });
    this.checkpointResets = new Counter({
      name: 'authz_audit_checkpoint_resets_total',
      help: 'Unusable shipping checkpoints: shipping restarted from the oldest segment (duplicates, never gaps).',
      labelNames: ['sink'] as const,
      registers: [registry],
    });
    this.shipperRestarts = new Counter({
      name: 'authz_audit_shipper_restarts_total',
      help: 'Times the shipper thread died and was restarted.',
      registers: [registry],
    });
    new Gauge({
      name: 'authz_audit_backlog_bytes', help: 'Trail bytes a remote sink has not shipped yet.',
      labelNames: ['sink'] as const, registers: [registry],
      collect() {
        for (const s of remoteSinks) this.set({ sink: s }, gauges.backlogBytes(s));
      },
    });
    new Gauge({
      name: 'authz_audit_oldest_unshipped_age_seconds', help: 'Age of the oldest event a remote sink has not acknowledged (0 when caught up).',
      labelNames: ['sink'] as const, registers: [registry],
      collect() {
        for (const s of remoteSinks) this.set({ sink: s }, gauges.oldestUnshippedAgeSeconds(s));
      },
    });
    new Gauge({
      name: 'authz_audit_sink_up', help: '1 while the last delivery attempt to a remote sink succeeded.',
      labelNames: ['sink'] as const, registers: [registry],
      collect() {
        for (const s of remoteSinks) this.set({ sink: s }, gauges.sinkUp(s) ? 1 : 0);
      },
    });
    for (const s of remoteSinks) {
      this.delivered.inc({ sink: s }, 0);
      this.sinkErrors.inc({ sink: s }, 0);
      this.quarantined.inc({ sink: s }, 0);
    }
    this.dropped.inc({ reason: 'trail_full' }, 0);
    this.dropped.inc({ reason: 'trail_error' }, 0);
  }
}
