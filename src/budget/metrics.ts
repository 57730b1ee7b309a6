// The budget room's metrics, on the sidecar's registry. Labels are bounded:
// `tenant` is a configured tenant or `_default`, `budget` a configured budget name.
import { Counter, Histogram, type Registry } from 'prom-client';
import { CellCounter, type CountCell } from '../observability/cell-counter.js';
import type { ChargePath } from './backend.js';

export class BudgetMetrics {
  readonly charged: Counter<'tenant' | 'path'>;
  readonly warnings: Counter<'tenant' | 'budget'>;
  readonly exhausted: Counter<'tenant' | 'budget' | 'reason'>;
  readonly redisSeconds: Histogram<'op'>;
  readonly redisErrors: Counter<'op'>;
  readonly redisRepliesRefused: Counter<'why'>;
  readonly batchSize: Histogram;
  readonly leaseGrants: Counter<'tenant'>;
  readonly leaseReturns: Counter<'reason'>;
  readonly reconciled: Counter;
  /** Charges counted in plain cells (shared by every BudgetMetrics on the registry). */
  private readonly chargedCells: CellCounter<'tenant' | 'path'>;
  private lastCell: CountCell<'tenant' | 'path'> | undefined;
  /** The cells met so far, by path then tenant (both bounded: paths are four, tenants configured or `_default`). */
  private readonly cellsByPath = new Map<ChargePath, Map<string, CountCell<'tenant' | 'path'>>>();

  constructor(registry: Registry) {
    this.chargedCells = CellCounter.on(registry, 'authz_budget_charged_total',
      'Decisions charged against budgets, by tenant and how (memory, redis, lease, local fallback).', ['tenant', 'path']);
    this.charged = this.chargedCells.counter;
    this.warnings = counter(registry, 'authz_budget_warnings_total',
      'Allowed decisions that crossed warn_at of a budget.', ['tenant', 'budget']);
    this.exhausted = counter(registry, 'authz_budget_exhausted_total',
      'Decisions denied by a budget (budget_exhausted, rate_limited).', ['tenant', 'budget', 'reason']);
    this.redisSeconds = histogram(registry, 'authz_budget_redis_duration_seconds', 'Redis round trips of the budget stage.',
      ['op'], [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1]);
    this.redisErrors = counter(registry, 'authz_budget_redis_errors_total',
      'Redis calls that failed or timed out, by operation.', ['op']);
    this.redisRepliesRefused = counter(registry, 'authz_budget_redis_replies_refused_total',
      'Redis replies refused (connection dropped, decisions follow on_unavailable): oversized, protocol (RESP3 type, framing), malformed (not the exact script reply), mismatched (another call\'s answer).', ['why']);
    this.batchSize = histogram(registry, 'authz_budget_redis_batch_charges', 'Charges carried by one Redis script call.',
      [], [1, 2, 4, 8, 16, 32, 64, 128, 256, 1024]);
    this.leaseGrants = counter(registry, 'authz_budget_lease_grants_total',
      'Lease slices taken from Redis.', ['tenant']);
    this.leaseReturns = counter(registry, 'authz_budget_lease_returns_total',
      'Lease remainders given back to Redis, by why (expired, closed).', ['reason']);
    this.reconciled = counter(registry, 'authz_budget_reconciled_total',
      'Local fallback charges written back to Redis after an outage.', []);
  }

  /** Every allowed charge counts one here: in a plain cell, off prom-client's per-call path (observability/cell-counter.ts). */
  countCharged(tenant: string, path: ChargePath): void {
    // Consecutive charges usually share tenant and path: skip the lookups. When tenants
    // alternate, the cell is found by two map lookups, not by building its label key.
    let cell = this.lastCell;
    if (cell === undefined || cell.labels.tenant !== tenant || cell.labels.path !== path) {
      let byTenant = this.cellsByPath.get(path);
      if (byTenant === undefined) this.cellsByPath.set(path, (byTenant = new Map()));
      cell = byTenant.get(tenant);
      if (cell === undefined) byTenant.set(tenant, (cell = this.chargedCells.cell({ tenant, path })));
      this.lastCell = cell;
    }
    cell.pending++;
  }
}

// Several budget capabilities may share one registry (tests, a reload that
// builds a new one): reuse a metric that already exists rather than throw.
function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: L[]): Counter<L> {
  const existing = registry.getSingleMetric(name);
  if (existing !== undefined) return existing as Counter<L>;
  return new Counter({ name, help, labelNames, registers: [registry] });
}

function histogram<L extends string>(
  registry: Registry, name: string, help: string, labelNames: L[], buckets: number[],
): Histogram<L> {
  const existing = registry.getSingleMetric(name);
  if (existing !== undefined) return existing as Histogram<L>;
  return new Histogram({ name, help, labelNames, buckets, registers: [registry] });
}
