// Gets every event to Kafka, in order, without ever holding up the flusher
// for longer than one send deadline:
//   direct  — no backlog: send the batch; on failure or timeout spool it;
//   backlog — the spool holds older events: new batches are appended behind
//             them and a replayer sends the spool in order, with backoff,
//             until it is empty again (then back to direct).
// A restart finds a non-empty spool and starts in backlog mode, so spooled
// events are replayed before anything newer.
import type { Logger } from '../observability/logger.js';
import type { OutboundEvent } from './event.js';
import type { AuditMetrics } from './metrics.js';
import type { KafkaEventFields, KafkaSink } from './sinks/kafka-sink.js';
import type { Spool } from './spool.js';

export type OutletAnswer = 'done' | 'full';

export interface OutletOptions {
  readonly onFull: 'deny' | 'drop';
  readonly batchMax: number;
  readonly backoffMinMs: number;
  readonly backoffMaxMs: number;
}

export class KafkaOutlet {
  private backlog: boolean;
  private replaying: Promise<void> | undefined;
  private stopped = false;
  /** After the drain deadline: no more sends, everything goes to the spool. */
  private spoolOnly = false;
  private wakeReplay: (() => void) | undefined;
  private unavailableSince: number | undefined;
  private deadline: number | undefined;

  constructor(
    private readonly sink: KafkaSink,
    private readonly spool: Spool,
    private readonly opts: OutletOptions,
    private readonly metrics: AuditMetrics,
    private readonly log: Logger,
    private readonly timeoutMs: number,
  ) {
    this.backlog = !spool.isEmpty;
    if (this.backlog) {
      log.info({ spool_bytes: spool.bytes }, 'audit: replaying the spool to kafka before newer events');
      this.ensureReplaying();
    }
  }

  get hasBacklog(): boolean {
    return this.backlog;
  }

  /**
   * When the oldest unshipped event began waiting (Kafka's first failure of
   * this outage), or undefined when none waits or the backlog predates this
   * process (a spool left by the last run: its age is unknown here).
   */
  get backlogSince(): number | undefined {
    return this.backlog ? this.unavailableSince : undefined;
  }

  /** Resolves 'done' once the batch is acknowledged by Kafka, spooled, or (on_full=drop) dropped; 'full' to be asked again. */
  async accept(batch: readonly OutboundEvent[]): Promise<OutletAnswer> {
    if (!this.backlog && !this.spoolOnly) {
      const started = performance.now();
      try {
        await this.sink.send(batch.map((e) => this.sink.message(e.event, e.json)), this.sendTimeout());
        this.metrics.sinkLatency.observe({ sink: 'kafka' }, (performance.now() - started) / 1000);
        this.metrics.delivered.inc({ sink: 'kafka' }, batch.length);
        return 'done';
      } catch (err) {
        this.metrics.sinkErrors.inc({ sink: 'kafka' });
        this.markUnavailable(err);
        this.backlog = true;
      }
    }
    const lines = batch.map((e) => e.json);
    if (!this.spool.hasRoom(lines)) {
      if (this.opts.onFull === 'deny') return 'full';
      this.metrics.dropped.inc({ reason: 'spool_full' }, batch.length);
      return 'done';
    }
    try {
      await this.spool.append(lines);
    } catch (err) {
      this.log.error({ err: String(err) }, 'audit: spool write failed');
      if (this.opts.onFull === 'deny') return 'full';
      this.metrics.dropped.inc({ reason: 'spool_error' }, batch.length);
      return 'done';
    }
    this.metrics.spooled.inc(batch.length);
    this.ensureReplaying();
    return 'done';
  }

  /** From now on, no send may outlive `at` (Date.now() ms): close() has a drain deadline. */
  setDeadline(at: number): void {
    this.deadline = at;
  }

  /** The drain deadline passed: whatever comes now is spooled, nothing more is sent. */
  spoolFromNowOn(): void {
    this.spoolOnly = true;
    this.wakeReplay?.();
  }

  /** Stop the replayer (what it has not sent stays in the spool for the next start). */
  async stopSending(): Promise<void> {
    this.spoolOnly = true;
    this.stopped = true;
    this.wakeReplay?.();
    await this.replaying;
  }

  private sendTimeout(): number | undefined {
    if (this.deadline === undefined) return undefined;
    return Math.max(1, Math.min(this.timeoutMs, this.deadline - Date.now()));
  }

  private ensureReplaying(): void {
    if (this.replaying !== undefined || this.stopped) return;
    this.replaying = this.replay().finally(() => {
      this.replaying = undefined;
    });
  }

  private async replay(): Promise<void> {
    let backoff = this.opts.backoffMinMs;
    // Right after a failure, give the broker a moment before trying again.
    if (this.unavailableSince !== undefined) await this.sleep(backoff);
    while (!this.stopped && !this.spoolOnly) {
      const { lines, next } = await this.spool.readNext(this.opts.batchMax);
      if (lines.length === 0) {
        if (this.spool.isEmpty) {
          this.backlog = false;
          if (this.unavailableSince !== undefined) {
            this.log.info({ outage_ms: Date.now() - this.unavailableSince }, 'audit: kafka caught up, spool empty');
            this.unavailableSince = undefined;
          }
          return;
        }
        await this.sleep(10); // an append is landing
        continue;
      }
      const started = performance.now();
      try {
        await this.sink.send(lines.map((l) => this.messageFromSpool(l)), this.sendTimeout());
      } catch (err) {
        this.metrics.sinkErrors.inc({ sink: 'kafka' });
        this.markUnavailable(err);
        await this.sleep(backoff);
        backoff = Math.min(backoff * 2, this.opts.backoffMaxMs);
        continue;
      }
      this.metrics.sinkLatency.observe({ sink: 'kafka' }, (performance.now() - started) / 1000);
      this.metrics.delivered.inc({ sink: 'kafka' }, lines.length);
      await this.spool.commit(next);
      backoff = this.opts.backoffMinMs;
    }
  }

  private messageFromSpool(line: string) {
    const fields = JSON.parse(line) as KafkaEventFields;
    return this.sink.message(fields, line);
  }

  private markUnavailable(err: unknown): void {
    if (this.unavailableSince === undefined) {
      this.unavailableSince = Date.now();
      this.log.warn({ err: err instanceof Error ? err.message : String(err) },
        'audit: kafka unavailable; spooling events locally until it recovers');
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeReplay = done;
    });
  }
}
