// The `tracing:` config section. Absent: no tracing at all (no tracer, no
// stage clocks). Present: each sampled decision is one span exported over
// OTLP/HTTP (JSON) to `otlp.endpoint`.
import { z } from 'zod';
import { parseSection } from '../config/parse-section.js';

export const tracingConfigSchema = z.strictObject({
  /** OpenTelemetry `service.name` of the spans. */
  service_name: z.string().min(1).default('authz-sidecar'),
  otlp: z.strictObject({
    /** The collector's traces URL, e.g. http://otel-collector:4318/v1/traces. */
    endpoint: z.url(),
    /** Extra request headers (e.g. an API key for a hosted backend). */
    headers: z.record(z.string(), z.string()).default({}),
    /** Deadline for one export request; a slower collector's batch is dropped (counted). */
    timeout_ms: z.number().int().positive().max(60_000).default(2000),
    /** Export requests in flight at once; past it a batch is dropped (counted) rather than queued. */
    concurrency: z.number().int().positive().max(64).default(2),
  }),
  /**
   * Fraction of decisions without a sampled parent that start a trace. A
   * request whose traceparent / B3 headers say "sampled" is always traced, one
   * that says "not sampled" never (parent-based), so Envoy's choice wins.
   */
  sample_ratio: z.number().min(0).max(1).default(0.01),
  batch: z.strictObject({
    /** Ended spans held for export at most; past it new spans are dropped (counted), never waited for. */
    max_queue: z.number().int().positive().max(100_000).default(2048),
    max_export: z.number().int().positive().max(10_000).default(512),
    /** How long a span may wait for a fuller batch. */
    delay_ms: z.number().int().positive().max(60_000).default(1000),
  }).prefault({}),
  /** Decision attributes on each span beyond id, result, reason, stage and stage timings. */
  attributes: z.strictObject({
    /** The principal's id (a user's `sub`): personal data in many places, so off by default. */
    principal: z.boolean().default(false),
    tenant: z.boolean().default(true),
  }).prefault({}),
});

export type TracingConfig = z.infer<typeof tracingConfigSchema>;

export function parseTracingConfig(section: unknown): TracingConfig {
  const config = parseSection(tracingConfigSchema, section, 'tracing');
  if (config.batch.max_export > config.batch.max_queue) {
    throw new Error('tracing.batch.max_export: must not exceed tracing.batch.max_queue');
  }
  return config;
}
