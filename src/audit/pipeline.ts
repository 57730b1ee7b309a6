// The audit pipeline: decisions are captured into a bounded ring queue on the
// decision path (constant time, no await); one background flusher takes
// batches (max_events, or whatever arrived within max_wait_ms) and hands each
// batch to every sink at once. Local sinks (jsonl, stdout) are retried until
// they succeed; Kafka goes through the outlet (direct, or spool + replay).
// A batch leaves the pipeline only when every sink has it, so a stuck sink
// fills the queue and `canAccept()` turns false (on_full=deny).
import type { AuthzRequest, Decision } from '../decision/types.js';
import type { Logger } from '../observability/logger.js';
import { captureEvent, toOutbound, type CapturedEvent, type OutboundEvent } from './event.js';
import type { KafkaOutlet } from './kafka-outlet.js';
import type { AuditMetrics } from './metrics.js';
import { RingQueue } from './ring-queue.js';

export interface LocalSink {
  readonly name: string;
  write(jsons: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

export interface PipelineOptions {
  readonly capacity: number;
  readonly batchMax: number;
  readonly batchWaitMs: number;
  readonly onFull: 'deny' | 'drop';
  readonly drainTimeoutMs: number;
  readonly retryBackoffMs: number;
}

export interface PipelineParts {
  readonly localSinks: readonly LocalSink[];
  readonly outlet: KafkaOutlet | undefined;
  /** Closed last, after the outlet stopped (spool, Kafka producer). */
  readonly closeRest: () => Promise<void>;
}

export class AuditPipeline {
  private readonly queue: RingQueue<CapturedEvent>;
  private parts: PipelineParts | undefined;
  private flusher: Promise<void> | undefined;
  /** Resolves the flusher's wait (for events, for a fuller batch, or between retries). */
  private wake: (() => void) | undefined;
  private idle = false;
  private batchWaiting = false;
  private closing = false;
  private hardStop = false;
  private closed = false;
  private closePromise: Promise<void> | undefined;

  constructor(
    private readonly opts: PipelineOptions,
    private readonly metrics: AuditMetrics,
    private readonly log: Logger,
  ) {
    this.queue = new RingQueue(opts.capacity);
  }

  get queueDepth(): number {
    return this.queue.size;
  }

  /** False when a deny-on-full pipeline has no room: the sidecar must not allow unaudited requests. */
  canAccept(): boolean {
    return this.opts.onFull === 'drop' || (!this.queue.full && !this.closed);
  }

  /** The decision path: capture and enqueue, nothing else. Never throws. */
  record(decision: Decision, req: AuthzRequest): void {
    this.metrics.emitted++;
    if (this.closed || !this.queue.push(captureEvent(decision, req))) {
      this.metrics.droppedQueueFull++;
      return;
    }
    if (this.wake !== undefined && (this.idle || (this.batchWaiting && this.queue.size >= this.opts.batchMax))) {
      this.signal();
    }
  }

  /** Starts the flusher once the sinks are open. */
  start(parts: PipelineParts): void {
    this.parts = parts;
    this.flusher = this.flushLoop(parts).catch((err: unknown) => {
      this.log.error({ err: String(err) }, 'audit flusher stopped');
    });
  }

  /**
   * Drains the queue within drain_timeout_ms (Kafka sends are cut at the
   * deadline; what is left is spooled), then closes the sinks.
   */
  close(): Promise<void> {
    this.closePromise ??= this.drainAndClose();
    return this.closePromise;
  }

  private async drainAndClose(): Promise<void> {
    this.closing = true;
    const parts = this.parts;
    const deadline = Date.now() + this.opts.drainTimeoutMs;
    parts?.outlet?.setDeadline(deadline);
    const timer = setTimeout(() => {
      this.hardStop = true;
      parts?.outlet?.spoolFromNowOn();
      this.signal();
    }, this.opts.drainTimeoutMs);
    this.signal();
    try {
      await this.flusher;
    } finally {
      clearTimeout(timer);
      this.closed = true;
    }
    const left = this.queue.size;
    if (left > 0) {
      // Only when the sinks never opened: nothing could take these.
      this.queue.take(left);
      this.metrics.dropped.inc({ reason: 'sink_error' }, left);
      this.log.error({ events: left }, 'audit: sinks never opened; events lost at shutdown');
    }
    if (parts === undefined) return;
    await parts.outlet?.stopSending();
    for (const s of parts.localSinks) await s.close().catch(() => undefined);
    await parts.closeRest();
  }

  private signal(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private waitForSignal(ms: number | undefined): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        if (timer) clearTimeout(timer);
        if (this.wake === done) this.wake = undefined;
        resolve();
      };
      const timer = ms === undefined ? undefined : setTimeout(done, ms);
      this.wake = done;
    });
  }

  private async flushLoop(parts: PipelineParts): Promise<void> {
    for (;;) {
      if (this.queue.size === 0) {
        if (this.closing) return;
        this.idle = true;
        await this.waitForSignal(undefined);
        this.idle = false;
        continue;
      }
      if (!this.closing && this.queue.size < this.opts.batchMax && this.opts.batchWaitMs > 0) {
        this.batchWaiting = true;
        await this.waitForSignal(this.opts.batchWaitMs);
        this.batchWaiting = false;
      }
      const batch = this.queue.take(this.opts.batchMax).map(toOutbound);
      await this.deliver(batch, parts);
    }
  }

  /** Returns once every sink has the batch (or, past the drain deadline, it was counted as dropped). */
  private async deliver(batch: OutboundEvent[], parts: PipelineParts): Promise<void> {
    const jsons = batch.map((e) => e.json);
    let pending: LocalSink[] = [...parts.localSinks];
    let kafkaPending = parts.outlet !== undefined;
    let backoff = this.opts.retryBackoffMs;
    for (;;) {
      const [failed, kafkaAnswer] = await Promise.all([
        this.writeLocal(pending, jsons),
        kafkaPending ? (parts.outlet as KafkaOutlet).accept(batch) : Promise.resolve('done' as const),
      ]);
      pending = failed;
      kafkaPending = kafkaAnswer !== 'done';
      if (pending.length === 0 && !kafkaPending) return;
      if (this.hardStop) {
        if (pending.length > 0) this.metrics.dropped.inc({ reason: 'sink_error' }, batch.length * pending.length);
        if (kafkaPending) this.metrics.dropped.inc({ reason: 'spool_full' }, batch.length);
        this.log.error({ events: batch.length, sinks: pending.map((s) => s.name), kafka: kafkaPending },
          'audit: drain deadline passed with a batch no sink could take; dropped');
        return;
      }
      await this.waitForSignal(backoff);
      backoff = Math.min(backoff * 2, 2000);
    }
  }

  private async writeLocal(sinks: readonly LocalSink[], jsons: readonly string[]): Promise<LocalSink[]> {
    const failed: LocalSink[] = [];
    await Promise.all(sinks.map(async (s) => {
      const started = performance.now();
      try {
        await s.write(jsons);
        this.metrics.sinkLatency.observe({ sink: s.name }, (performance.now() - started) / 1000);
        this.metrics.delivered.inc({ sink: s.name }, jsons.length);
      } catch (err) {
        this.metrics.sinkErrors.inc({ sink: s.name });
        this.log.error({ sink: s.name, err: String(err) }, 'audit: sink write failed; retrying');
        failed.push(s);
      }
    }));
    return failed;
  }
}
