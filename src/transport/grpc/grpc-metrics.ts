// gRPC transport metrics, registered on the sidecar's registry. Children for
// the common outcomes are resolved once so the hot path does no label hashing.
import { Counter } from 'prom-client';
import type { SidecarMetrics } from '../../observability/metrics.js';

export interface GrpcMetrics {
  /** Calls answered, by method and grpc-status (a Check deny is still grpc-status 0). */
  readonly calls: Counter<'method' | 'code'>;
  readonly checkOk: { inc(): void };
  /** Streams that ended before we could answer (client reset, cancelled deadline). */
  readonly abandoned: Counter;
  /** Decisions the transport itself had to make: decide() threw or missed its deadline. */
  readonly transportDenies: Counter<'reason'>;
}

function counter<L extends string>(metrics: SidecarMetrics, name: string, help: string, labelNames: L[]): Counter<L> {
  const existing = metrics.registry.getSingleMetric(name);
  if (existing instanceof Counter) return existing as Counter<L>;
  return new Counter({ name, help, labelNames, registers: [metrics.registry] });
}

export function createGrpcMetrics(metrics: SidecarMetrics | undefined): GrpcMetrics | undefined {
  if (metrics === undefined) return undefined;
  const calls = counter(metrics, 'authz_grpc_calls_total', 'gRPC calls answered, by method and grpc-status.', ['method', 'code']);
  const abandoned = counter(metrics, 'authz_grpc_abandoned_total', 'gRPC streams closed by the client before the answer.', []);
  const transportDenies = counter(metrics, 'authz_grpc_transport_denies_total',
    'Denies made by the gRPC transport because decide() failed or missed its deadline.', ['reason']);
  return { calls, checkOk: calls.labels('Check', '0'), abandoned, transportDenies };
}
