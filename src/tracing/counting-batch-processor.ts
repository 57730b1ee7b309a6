// The OpenTelemetry BatchSpanProcessor, bounded and counted: an ended span is
// pushed onto the batch queue (no I/O, no await on the decision path); the
// queue holds at most `maxQueue` spans, and a span that finds it full is
// dropped and counted rather than waited for. Every batch's fate (exported,
// refused, timed out, collector down) is counted too. The BatchSpanProcessor
// drops silently on a full queue, so this wrapper keeps its own count of
// what it handed over and the exporter has not yet taken.
import { TraceFlags, type Context } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import {
  BatchSpanProcessor,
  type ReadableSpan,
  type Span,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { TracingMetrics } from './metrics.js';

export interface BatchLimits {
  readonly maxQueue: number;
  readonly maxExport: number;
  readonly delayMs: number;
  /** How long the processor waits for one export before moving on (the exporter has its own deadline too). */
  readonly exportTimeoutMs: number;
}

/** The last export's outcome, for status. */
export interface ExportState {
  readonly ok: boolean;
  readonly at: number;
  readonly error?: string;
}

export class CountingBatchProcessor implements SpanProcessor {
  private readonly inner: BatchSpanProcessor;
  /** Spans handed to the inner processor that its exporter has not taken yet. */
  private queued = 0;
  private last: ExportState | undefined;

  constructor(
    exporter: SpanExporter,
    private readonly limits: BatchLimits,
    private readonly metrics: TracingMetrics,
    private readonly onExportFailure: (error: string) => void,
  ) {
    const counting: SpanExporter = {
      export: (spans: ReadableSpan[], done: (result: ExportResult) => void) => {
        this.queued -= spans.length;
        exporter.export(spans, (result) => {
          if (result.code === ExportResultCode.SUCCESS) {
            this.metrics.spans.inc({ outcome: 'exported' }, spans.length);
            this.last = { ok: true, at: Date.now() };
          } else {
            this.metrics.spans.inc({ outcome: 'dropped_export_failed' }, spans.length);
            const error = result.error?.message ?? 'export failed';
            if (this.last?.ok !== false) this.onExportFailure(error);
            this.last = { ok: false, at: Date.now(), error };
          }
          done(result);
        });
      },
      shutdown: () => exporter.shutdown(),
      forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
    };
    this.inner = new BatchSpanProcessor(counting, {
      maxQueueSize: limits.maxQueue,
      maxExportBatchSize: limits.maxExport,
      scheduledDelayMillis: limits.delayMs,
      exportTimeoutMillis: limits.exportTimeoutMs,
    });
  }

  get lastExport(): ExportState | undefined {
    return this.last;
  }

  /** Spans waiting for export. */
  get queueDepth(): number {
    return this.queued;
  }

  onStart(_span: Span, _parentContext: Context): void {}

  onEnd(span: ReadableSpan): void {
    if ((span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return;
    if (this.queued >= this.limits.maxQueue) {
      this.metrics.spans.inc({ outcome: 'dropped_queue_full' });
      return;
    }
    this.queued++;
    this.inner.onEnd(span);
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
}
