// Containment: an exception nobody expected, while answering one request,
// becomes that request's deny (503 internal_error) and is counted here —
// authz_internal_errors_total{transport, kind} — and logged once per kind, so a
// flood of the same failure cannot flood the log. The process keeps serving.
import { Counter } from 'prom-client';
import type { Logger } from '../observability/logger.js';
import type { SidecarMetrics } from '../observability/metrics.js';

/** Distinct kinds kept as labels; past this every new kind is `other` (bounded cardinality). */
const MAX_KINDS = 32;

export interface InternalErrors {
  /** Count and (first time per kind) log an exception contained on `transport`'s answer path. */
  record(transport: string, err: unknown): void;
}

export function createInternalErrors(log: Logger, metrics: SidecarMetrics | undefined): InternalErrors {
  const counter = metrics === undefined ? undefined : internalErrorsCounter(metrics);
  const logged = new Set<string>();
  return {
    record(transport, err) {
      let kind = errorKind(err);
      const key = `${transport}:${kind}`;
      if (!logged.has(key)) {
        if (logged.size >= MAX_KINDS) kind = 'other';
        else {
          logged.add(key);
          log.error({ transport, kind, err: err instanceof Error ? err.message : String(err) },
            'unexpected error answering a request; denied internal_error (logged once per kind)');
        }
      }
      counter?.inc({ transport, kind });
    },
  };
}

function internalErrorsCounter(metrics: SidecarMetrics): Counter<'transport' | 'kind'> {
  const name = 'authz_internal_errors_total';
  const existing = metrics.registry.getSingleMetric(name);
  if (existing instanceof Counter) return existing as Counter<'transport' | 'kind'>;
  return new Counter({
    name,
    help: 'Unexpected exceptions contained on the answer path (each denied internal_error), by transport and kind.',
    labelNames: ['transport', 'kind'],
    registers: [metrics.registry],
  });
}

/** A short, bounded label: Node's error code (ERR_INVALID_CHAR) or the error's class name. */
function errorKind(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^[A-Z0-9_]{1,64}$/.test(code)) return code;
  const name = err instanceof Error ? err.name : typeof err;
  return /^[A-Za-z0-9_]{1,64}$/.test(name) ? name : 'unknown';
}
