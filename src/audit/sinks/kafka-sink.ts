// Delivers audit events to Kafka through kafkajs: an idempotent producer,
// acks=all, one request in flight (so a retry cannot reorder), key = tenant
// id (order per tenant), CloudEvents attributes as headers (CloudEvents Kafka
// protocol binding, binary content mode: data in the value, `ce_*` headers).
//
// It runs on the shipper thread, fed from the trail (never on the decision thread).
// Every send has one deadline. When it fails or passes, the producer is thrown
// away: a fresh one gets a new producer id, so batches re-sent from the trail
// can never collide with the old producer's sequence numbers (a retried
// batch is then a duplicate with the same ce_id, never a loss).
import { hostname } from 'node:os';
import { CompressionTypes, Kafka, logLevel, type Message, type Producer, type logCreator } from 'kafkajs';
import type { Logger } from '../../observability/logger.js';
import type { KafkaSinkConfig } from '../config.js';
import type { AuditEventV1 } from '../event.js';
import type { RemoteSink, TrailRecord } from '../shipping/remote-sink.js';
import { useSyncGzip } from './kafka-gzip.js';
import { fixKafkajsIdleLoop } from './kafkajs-idle-loop-fix.js';
import { memoizedDefaultPartitioner } from './kafka-partitioner.js';

export const CLOUDEVENTS_TYPE = 'dev.authz-sidecar.decision.v1';

/** Fields the Kafka record needs besides the JSON text. */
export type KafkaEventFields = Pick<AuditEventV1, 'decision_id' | 'tenant_id' | 'timestamp' | 'resource_type' | 'resource_id'>;

useSyncGzip();
fixKafkajsIdleLoop();

// Header values that are the same in every record, encoded once (kafkajs copies a Buffer instead of encoding a string).
const SPECVERSION = Buffer.from('1.0');
const TYPE = Buffer.from(CLOUDEVENTS_TYPE);
const JSON_CONTENT = Buffer.from('application/json');

export class KafkaDeliveryError extends Error {
  override readonly name = 'KafkaDeliveryError';
}

export class KafkaSink implements RemoteSink {
  readonly name = 'kafka';
  private readonly kafka: Kafka;
  private producer: Producer | undefined;
  private connecting: Promise<Producer> | undefined;
  private readonly source: Buffer;

  constructor(private readonly config: KafkaSinkConfig, private readonly log: Logger) {
    const sinkLog = log;
    const toPino: logCreator = () => ({ namespace, level, log: entry }) => {
      // kafkajs is loud during an outage; our own warn/info lines say what matters.
      if (level <= logLevel.WARN) sinkLog.debug({ kafkajs: namespace, detail: entry.message }, 'kafkajs');
    };
    this.kafka = new Kafka({
      clientId: config.client_id,
      brokers: config.brokers,
      connectionTimeout: Math.min(config.timeout_ms, 3000),
      requestTimeout: config.timeout_ms,
      // kafkajs' own retries stay inside our deadline; past it the shipper retries the batch from the trail.
      retry: { retries: 3, initialRetryTime: 50, maxRetryTime: Math.max(100, Math.floor(config.timeout_ms / 4)) },
      logLevel: logLevel.WARN,
      logCreator: toPino,
    });
    this.source = Buffer.from(config.source ?? `/authz-sidecar/${hostname()}`);
  }

  /** The Kafka record for one event: key, CloudEvents headers, the event JSON as value. */
  message(fields: KafkaEventFields, json: string): Message {
    const headers: Record<string, string | Buffer> = {
      ce_specversion: SPECVERSION,
      ce_id: fields.decision_id,
      ce_source: this.source,
      ce_type: TYPE,
      ce_time: fields.timestamp,
      'content-type': JSON_CONTENT,
    };
    if (typeof fields.resource_type === 'string') headers.ce_subject = `${fields.resource_type}/${fields.resource_id ?? ''}`;
    const tenant = typeof fields.tenant_id === 'string' ? fields.tenant_id : null;
    if (tenant !== null) headers.ce_partitionkey = tenant;
    return {
      key: tenant ?? '',
      value: json,
      headers,
      timestamp: String(Date.parse(fields.timestamp)),
    };
  }

  deliver(batch: readonly TrailRecord[], deadlineMs?: number): Promise<void> {
    return this.send(batch.map((r) => this.message(r.head, r.json)), deadlineMs);
  }

  /** Resolves once every message is acknowledged by all in-sync replicas; rejects within timeout_ms otherwise. */
  async send(messages: Message[], timeoutMs: number = this.config.timeout_ms): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new KafkaDeliveryError(`no acknowledgement within ${timeoutMs} ms`)), timeoutMs);
    });
    const attempt = (async () => {
      const producer = await this.connected();
      await producer.send({
        topic: this.config.topic,
        acks: -1,
        timeout: timeoutMs,
        compression: this.config.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
        messages,
      });
    })();
    try {
      await Promise.race([attempt, deadline]);
    } catch (err) {
      attempt.catch(() => undefined);
      this.discardProducer();
      throw err instanceof KafkaDeliveryError ? err : new KafkaDeliveryError(errorSummary(err));
    } finally {
      clearTimeout(timer);
    }
  }

  async close(timeoutMs = 2000): Promise<void> {
    const p = this.producer;
    this.producer = undefined;
    this.connecting = undefined;
    if (p) await withTimeout(p.disconnect(), timeoutMs).catch(() => undefined);
  }

  private connected(): Promise<Producer> {
    if (this.producer) return Promise.resolve(this.producer);
    if (!this.connecting) {
      const producer = this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        createPartitioner: memoizedDefaultPartitioner,
        retry: { retries: 3, initialRetryTime: 50, maxRetryTime: Math.max(100, Math.floor(this.config.timeout_ms / 4)) },
      });
      const connecting = producer.connect().then(
        () => {
          if (this.connecting === connecting) this.producer = producer;
          return producer;
        },
        (err: unknown) => {
          if (this.connecting === connecting) this.connecting = undefined;
          void producer.disconnect().catch(() => undefined);
          throw err;
        },
      );
      this.connecting = connecting;
    }
    return this.connecting;
  }

  private discardProducer(): void {
    const p = this.producer;
    const c = this.connecting;
    this.producer = undefined;
    this.connecting = undefined;
    if (p) void p.disconnect().catch(() => undefined);
    else if (c) void c.then((x) => x.disconnect()).catch(() => undefined);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timeout')), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function errorSummary(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
