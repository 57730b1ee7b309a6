// The `audit:` config section. Relative directories resolve against the
// config file's directory (CapabilityDeps.baseDir).
import { z } from 'zod';
import { describeIssues } from '../config/parse-section.js';

const kafkaSinkSchema = z.strictObject({
  brokers: z.array(z.string().min(1)).min(1),
  topic: z.string().min(1).default('authz-audit'),
  client_id: z.string().min(1).default('authz-sidecar-audit'),
  compression: z.enum(['gzip', 'none']).default('gzip'),
  /** Deadline for one delivery attempt (connect + produce + ack); past it the batch is spooled. */
  timeout_ms: z.number().int().positive().default(5000),
  /** CloudEvents `source` attribute (a URI-reference); defaults to /authz-sidecar/<hostname>. */
  source: z.string().min(1).optional(),
  /** Backoff between replay attempts while Kafka is unavailable. */
  retry_backoff_ms: z.strictObject({
    min: z.number().int().positive().default(200),
    max: z.number().int().positive().default(5000),
  }).prefault({}),
});

const jsonlSinkSchema = z.strictObject({
  dir: z.string().min(1),
  /** fsync each appended batch (and the chain head) before counting it delivered. */
  fsync: z.boolean().default(true),
});

const sinkSchema = z.union([
  z.strictObject({ kafka: kafkaSinkSchema }),
  z.strictObject({ jsonl: jsonlSinkSchema }),
  z.strictObject({ stdout: z.strictObject({}).prefault({}) }),
]);

export const auditConfigSchema = z.strictObject({
  sinks: z.array(sinkSchema).min(1),
  queue: z.strictObject({ capacity: z.number().int().positive().default(20_000) }).prefault({}),
  batch: z.strictObject({
    // Kafka batches are encoded on the event loop: 500 events held decisions
    // back (p99 ~24 ms in bench/), 100 kept p99 ~6 ms at the same throughput.
    max_events: z.number().int().positive().default(100),
    max_wait_ms: z.number().int().nonnegative().default(50),
  }).prefault({}),
  spool: z.strictObject({
    dir: z.string().min(1).default('audit-spool'),
    max_bytes: z.number().int().positive().default(1024 * 1024 * 1024),
    /** always: fsync before a spooled batch counts; batch: group fsync every fsync_interval_ms; never: the OS decides. */
    fsync: z.enum(['always', 'batch', 'never']).default('batch'),
    fsync_interval_ms: z.number().int().positive().default(200),
  }).prefault({}),
  /** Queue (and spool) full: deny new requests (no unaudited access) or drop their events and count them. */
  on_full: z.enum(['deny', 'drop']).default('deny'),
  /** close()/SIGTERM: how long to keep delivering before spooling what is left. */
  drain_timeout_ms: z.number().int().nonnegative().default(5000),
});

export type AuditConfig = z.output<typeof auditConfigSchema>;
export type KafkaSinkConfig = z.output<typeof kafkaSinkSchema>;
export type JsonlSinkConfig = z.output<typeof jsonlSinkSchema>;
export type SpoolConfig = AuditConfig['spool'];

/** Parses the raw section, throwing an Error whose message names every bad field. */
export function parseAuditConfig(section: unknown): AuditConfig {
  const parsed = auditConfigSchema.safeParse(section);
  if (!parsed.success) throw new Error(`invalid audit config: ${describeIssues(parsed.error.issues, 'audit')}`);
  const kafkaSinks = parsed.data.sinks.filter((s) => 'kafka' in s).length;
  if (kafkaSinks > 1) throw new Error('invalid audit config: audit.sinks: at most one kafka sink');
  return parsed.data;
}
