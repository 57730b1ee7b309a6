// The audit capability: parses the `audit:` section, opens the sinks and the
// spool in the background, and records every decision through onDecision.
import { resolve } from 'node:path';
import type { Capability, CapabilityDeps, PreparedChange } from '../decision/capability.js';
import type { AuthzRequest, Decision } from '../decision/types.js';
import { parseAuditConfig, type AuditConfig } from './config.js';
import { KafkaOutlet } from './kafka-outlet.js';
import { AuditMetrics } from './metrics.js';
import { AuditPipeline, type LocalSink } from './pipeline.js';
import { JsonlSink } from './sinks/jsonl-sink.js';
import { KafkaSink } from './sinks/kafka-sink.js';
import { StdoutSink } from './sinks/stdout-sink.js';
import { Spool } from './spool.js';
import { auditStatus } from './status.js';

export interface AuditCapability extends Capability {
  /** False when the queue (and spool) are full and on_full=deny: deny with 'audit_unavailable'. */
  canAccept(): boolean;
}

export interface AuditCapabilityOptions {
  /** Where the stdout sink writes (default process.stdout). */
  readonly stdout?: NodeJS.WritableStream;
}

export function createAuditCapability(section: unknown, deps: CapabilityDeps, options: AuditCapabilityOptions = {}): AuditCapability {
  const config = parseAuditConfig(section);
  const log = deps.log.child({ room: 'audit' });
  let spool: Spool | undefined;
  let outlet: KafkaOutlet | undefined;
  let startError: string | undefined;
  const metrics: AuditMetrics = new AuditMetrics(deps.metrics.registry, {
    queueDepth: (): number => pipeline.queueDepth,
    spoolBytes: (): number => spool?.bytes ?? 0,
  });
  const pipeline: AuditPipeline = new AuditPipeline({
    capacity: config.queue.capacity,
    batchMax: config.batch.max_events,
    batchWaitMs: config.batch.max_wait_ms,
    onFull: config.on_full,
    drainTimeoutMs: config.drain_timeout_ms,
    retryBackoffMs: 100,
  }, metrics, log);

  let ready = false;
  const opening = openParts(config, deps.baseDir, log, metrics, options).then((parts) => {
    spool = parts.spool;
    outlet = parts.outlet;
    pipeline.start(parts);
    ready = true;
    log.info({ sinks: config.sinks.map((s) => Object.keys(s)[0]), on_full: config.on_full }, 'audit pipeline started');
  });
  opening.catch((err: unknown) => {
    startError = err instanceof Error ? err.message : String(err);
  });
  opening.catch((err: unknown) => log.error({ err: String(err) }, 'audit pipeline could not start; decisions will be denied once the queue fills'));

  return {
    name: 'audit',
    onDecision: (decision: Decision, req: AuthzRequest) => pipeline.record(decision, req),
    canAccept: () => pipeline.canAccept(),
    isReady: () => ready,
    ready: () => opening,
    status: () => {
      const since = outlet?.backlogSince;
      return auditStatus({
        started: ready,
        startError,
        queueDepth: pipeline.queueDepth,
        queueCapacity: config.queue.capacity,
        accepting: pipeline.canAccept(),
        backlogBytes: spool?.bytes ?? 0,
        backlogMaxBytes: spool === undefined ? undefined : config.spool.max_bytes,
        oldestUnshippedAgeS: since === undefined ? null : Math.round((Date.now() - since) / 1000),
      });
    },
    // Sinks, spool and queue are opened once per process: a changed section
    // is validated here (so a bad one refuses the whole reload with its
    // error) and otherwise applies on restart only.
    prepare: (next: unknown): Promise<PreparedChange> => {
      const parsed = parseAuditConfig(next);
      const changed = Object.keys({ ...config, ...parsed }).filter(
        (k) => JSON.stringify(config[k as keyof AuditConfig]) !== JSON.stringify(parsed[k as keyof AuditConfig]),
      );
      return Promise.reject(new Error(`audit.${changed[0] ?? 'section'} changed; it applies on restart only`));
    },
    close: async () => {
      await opening.catch(() => undefined);
      await pipeline.close();
    },
  };
}

async function openParts(config: AuditConfig, baseDir: string, log: CapabilityDeps['log'], metrics: AuditMetrics,
  options: AuditCapabilityOptions) {
  const localSinks: LocalSink[] = [];
  let kafka: KafkaSink | undefined;
  for (const s of config.sinks) {
    if ('jsonl' in s) {
      const dir = resolve(baseDir, s.jsonl.dir);
      localSinks.push(await JsonlSink.open({ dir, fsync: s.jsonl.fsync, log }).catch((err: unknown) => {
        throw new Error(`audit jsonl sink: cannot open ${dir}: ${String(err)}`);
      }));
    } else if ('stdout' in s) {
      localSinks.push(new StdoutSink(options.stdout));
    } else {
      kafka = new KafkaSink(s.kafka, log);
    }
  }
  let spool: Spool | undefined;
  let outlet: KafkaOutlet | undefined;
  const kafkaConfig = config.sinks.find((s) => 'kafka' in s);
  if (kafka && kafkaConfig && 'kafka' in kafkaConfig) {
    const dir = resolve(baseDir, config.spool.dir);
    spool = await Spool.open({
      dir, maxBytes: config.spool.max_bytes, fsync: config.spool.fsync, fsyncIntervalMs: config.spool.fsync_interval_ms, log,
    }).catch((err: unknown) => {
      throw new Error(`audit spool: cannot open ${dir}: ${String(err)}`);
    });
    const k = kafkaConfig.kafka;
    outlet = new KafkaOutlet(kafka, spool, {
      onFull: config.on_full, batchMax: config.batch.max_events,
      backoffMinMs: k.retry_backoff_ms.min, backoffMaxMs: k.retry_backoff_ms.max,
    }, metrics, log, k.timeout_ms);
  }
  const openedSpool = spool;
  const openedKafka = kafka;
  return {
    localSinks,
    outlet,
    spool,
    closeRest: async () => {
      await openedSpool?.close();
      await openedKafka?.close();
    },
  };
}
