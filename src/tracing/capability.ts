// The tracing capability: with a `tracing:` section, each decision goes to
// DecisionSpans after it is made (sampled parent-based at sample_ratio), the
// engine times each stage, and spans leave in batches over OTLP/HTTP from a
// bounded queue. Without the section none of this exists.
import { AlwaysOnSampler, BasicTracerProvider, ParentBasedSampler } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { Capability, CapabilityDeps, PartStatus } from '../decision/capability.js';
import type { AuthzRequest, Decision } from '../decision/types.js';
import { timeLimit } from '../util/time-limit.js';
import { parseTracingConfig } from './config.js';
import { CountingBatchProcessor } from './counting-batch-processor.js';
import { DecisionSpans } from './decision-spans.js';
import { TracingMetrics } from './metrics.js';

export function createTracingCapability(section: unknown, deps: CapabilityDeps): Capability {
  const config = parseTracingConfig(section);
  const log = deps.log.child({ room: 'tracing' });
  const metrics = new TracingMetrics(deps.metrics.registry);
  const exporter = new OTLPTraceExporter({
    url: config.otlp.endpoint,
    headers: config.otlp.headers,
    timeoutMillis: config.otlp.timeout_ms,
    concurrencyLimit: config.otlp.concurrency,
  });
  const processor = new CountingBatchProcessor(exporter, {
    maxQueue: config.batch.max_queue,
    maxExport: config.batch.max_export,
    delayMs: config.batch.delay_ms,
    exportTimeoutMs: config.otlp.timeout_ms + 1000,
  }, metrics, (error) => log.warn({ endpoint: config.otlp.endpoint, error }, 'tracing: span export failed; spans are dropped until the collector answers'));
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': config.service_name }),
    // Parents decide through the SDK; roots are sampled by DecisionSpans (at
    // sample_ratio) before a span is started, so the SDK samples every root it sees.
    sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }),
    spanProcessors: [processor],
  });
  const spans = new DecisionSpans(provider.getTracer('authz-sidecar'), config.sample_ratio, config.attributes);
  let failedRecords = 0;

  return {
    name: 'tracing',
    readsStageTimings: true,
    onDecision: (decision: Decision, req: AuthzRequest) => {
      // The answer path must not throw, whatever the SDK does.
      try {
        spans.record(decision, req);
      } catch (err) {
        if (failedRecords++ === 0) log.error({ error: (err as Error).message }, 'tracing: a decision span could not be recorded');
      }
    },
    isReady: () => true,
    ready: () => Promise.resolve(),
    status: (): PartStatus => {
      const last = processor.lastExport;
      const details = { endpoint: config.otlp.endpoint, sample_ratio: config.sample_ratio, queue_depth: processor.queueDepth };
      if (last !== undefined && !last.ok) {
        return { state: 'warn', message: `span export to ${config.otlp.endpoint} failing: ${last.error}; spans are dropped`, details };
      }
      return { state: 'ok', message: `exporting to ${config.otlp.endpoint}, sample_ratio ${config.sample_ratio}`, details };
    },
    close: async () => {
      // A last flush, bounded: a collector that is down must not hold shutdown.
      await timeLimit(provider.shutdown(), config.otlp.timeout_ms + 1000, () => new Error('tracing: flush timed out'))
        .catch((err: unknown) => log.warn({ error: (err as Error).message }, 'tracing: spans not flushed at shutdown'));
    },
  };
}
