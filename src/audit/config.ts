// The `audit:` config section. Relative directories resolve against the
// config file's directory (CapabilityDeps.baseDir).
//
// The jsonl sink is the write-ahead trail: every decision is appended to it
// on the decision thread before its answer leaves. Remote sinks (kafka, and
// any sink in shipping/remote-sinks.ts) are replicas shipped from that trail
// off the decision thread, so they need a jsonl sink to ship from.
import { z } from 'zod';
import { describeIssues } from '../config/parse-section.js';

const kafkaSinkSchema = z.strictObject({
  brokers: z.array(z.string().min(1)).min(1),
  topic: z.string().min(1).default('authz-audit'),
  client_id: z.string().min(1).default('authz-sidecar-audit'),
  compression: z.enum(['gzip', 'none']).default('gzip'),
  /** Deadline for one delivery attempt (connect + produce + ack); past it the batch is retried from the trail. */
  timeout_ms: z.number().int().positive().default(5000),
  /** CloudEvents `source` attribute (a URI-reference); defaults to /authz-sidecar/<hostname>. */
  source: z.string().min(1).optional(),
  /** Backoff between delivery attempts while Kafka is unavailable. */
  retry_backoff_ms: z.strictObject({
    min: z.number().int().positive().default(200),
    max: z.number().int().positive().default(5000),
  }).prefault({}),
});

const postgresSinkSchema = z.strictObject({
  /** postgres://user@host:5432/db — the password from PGPASSWORD (or a URL from a secret), never in this file. */
  url: z.string().regex(/^postgres(ql)?:\/\//, 'a postgres:// URL'),
  /** The Audit Wall table (config/postgres/audit.sql). */
  table: z.string().regex(/^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$/, 'schema.table in lower case').default('authz_audit.decisions'),
  /** Names this sidecar's trail in the table (each trail is one hash chain); default: the hostname (the pod name). */
  chain: z.string().min(1).max(253).optional(),
  /** Deadline for one batch (connect + insert + commit); past it the batch is retried from the trail. */
  timeout_ms: z.number().int().positive().default(5000),
  /** Rows per INSERT statement (a batch larger than this is several statements in one transaction). */
  max_rows: z.number().int().positive().max(2000).default(500),
  retry_backoff_ms: z.strictObject({
    min: z.number().int().positive().default(200),
    max: z.number().int().positive().default(5000),
  }).prefault({}),
});

/** always: fdatasync after every event; interval: every fsync_interval_ms; never: the OS decides. */
export const FSYNC_POLICIES = ['always', 'interval', 'never'] as const;
export type FsyncPolicy = (typeof FSYNC_POLICIES)[number];

const MIB = 1024 * 1024;

const jsonlSinkSchema = z.strictObject({
  dir: z.string().min(1),
  // `true`/`false` were the settings before the trail became the write-ahead log.
  fsync: z.union([z.enum(FSYNC_POLICIES), z.boolean()]).default('interval')
    .transform((v): FsyncPolicy => (v === true ? 'always' : v === false ? 'never' : v)),
  fsync_interval_ms: z.number().int().positive().default(100),
  /** A segment file is closed and a new one started past this size (and at each UTC day). */
  segment_bytes: z.number().int().min(64 * 1024).default(64 * MIB),
  /** Trail disk use: past it the oldest segments every remote sink has shipped are deleted; never an unshipped one. */
  max_bytes: z.number().int().min(128 * 1024).default(1024 * MIB),
});

const sinkSchema = z.union([
  z.strictObject({ kafka: kafkaSinkSchema }),
  z.strictObject({ jsonl: jsonlSinkSchema }),
  z.strictObject({ postgres: postgresSinkSchema }),
  z.strictObject({ stdout: z.strictObject({}).prefault({}) }),
]);

export const auditConfigSchema = z.strictObject({
  sinks: z.array(sinkSchema).min(1),
  /** Shipping batches (read from the trail by the shipper thread). */
  batch: z.strictObject({
    max_events: z.number().int().positive().default(500),
    /** Caught up: how long the oldest unsent event waits for a fuller batch, and the poll interval for new lines. */
    max_wait_ms: z.number().int().nonnegative().default(20),
  }).prefault({}),
  /** Trail unwritable or at max_bytes with nothing shipped to delete: deny (no unaudited access) or drop and count. */
  on_full: z.enum(['deny', 'drop']).default('deny'),
  /**
   * The shipper thread's Linux nice value: above 0 the decision thread wins
   * the core whenever both want it, so a batch being encoded and compressed
   * never delays an answer; the trail absorbs what is not yet shipped.
   */
  shipper_nice: z.number().int().min(0).max(19).default(10),
  /** close()/SIGTERM: how long the shipper keeps delivering before leaving the rest in the trail for the next start. */
  drain_timeout_ms: z.number().int().nonnegative().default(5000),
});

export type AuditConfig = z.output<typeof auditConfigSchema>;
export type KafkaSinkConfig = z.output<typeof kafkaSinkSchema>;
export type JsonlSinkConfig = z.output<typeof jsonlSinkSchema>;
export type PostgresSinkConfig = z.output<typeof postgresSinkSchema>;
export type RemoteSinkConfigs = { kafka?: KafkaSinkConfig; postgres?: PostgresSinkConfig };

/** Parses the raw section, throwing an Error whose message names every bad field. */
export function parseAuditConfig(section: unknown): AuditConfig {
  const parsed = auditConfigSchema.safeParse(section);
  if (!parsed.success) throw new Error(`invalid audit config: ${describeIssues(parsed.error.issues, 'audit')}`);
  const count = (kind: string): number => parsed.data.sinks.filter((s) => kind in s).length;
  if (count('kafka') > 1) throw new Error('invalid audit config: audit.sinks: at most one kafka sink');
  if (count('jsonl') > 1) throw new Error('invalid audit config: audit.sinks: at most one jsonl sink (the trail)');
  if (count('postgres') > 1) throw new Error('invalid audit config: audit.sinks: at most one postgres sink');
  for (const remote of ['kafka', 'postgres']) {
    if (count(remote) > 0 && count('jsonl') === 0) {
      throw new Error(`invalid audit config: audit.sinks: ${remote} is shipped from the local trail; add a jsonl sink ({ jsonl: { dir: ... } })`);
    }
  }
  return parsed.data;
}

export function trailConfigOf(config: AuditConfig): JsonlSinkConfig | undefined {
  for (const s of config.sinks) if ('jsonl' in s) return s.jsonl;
  return undefined;
}

export function remoteSinksOf(config: AuditConfig): RemoteSinkConfigs {
  const out: RemoteSinkConfigs = {};
  for (const s of config.sinks) {
    if ('kafka' in s) out.kafka = s.kafka;
    if ('postgres' in s) out.postgres = s.postgres;
  }
  return out;
}
