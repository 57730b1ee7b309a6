// gRPC transport metrics, registered on the sidecar's registry.
//
// Every answered Check counts one `authz_grpc_calls_total{method="Check",code="0"}`:
// that one stays off prom-client's per-call path (a labelled child's inc()
// still validates its argument and looks its series up: ~1.5% of the gRPC
// path's CPU, measured) — it is counted in a plain cell (observability/cell-counter.ts).
// The rare outcomes use prom-client as it is.
import { Counter } from 'prom-client';
import { CellCounter } from '../../observability/cell-counter.js';
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
  const callCells = CellCounter.on(metrics.registry, 'authz_grpc_calls_total', 'gRPC calls answered, by method and grpc-status.', ['method', 'code']);
  const okCell = callCells.cell({ method: 'Check', code: '0' });
  const checkOk = { inc: () => void okCell.pending++ };
  const calls = callCells.counter;
  const abandoned = counter(metrics, 'authz_grpc_abandoned_total', 'gRPC streams closed by the client before the answer.', []);
  const transportDenies = counter(metrics, 'authz_grpc_transport_denies_total',
    'Denies made by the gRPC transport because decide() failed or missed its deadline.', ['reason']);
  return { calls, checkOk, abandoned, transportDenies };
}
