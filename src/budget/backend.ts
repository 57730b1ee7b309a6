// What a budget backend does: check every meter of a request and, only if all
// of them have room, charge all of them — one atomic step. A backend answers
// synchronously whenever it can (memory, a lease hit, a known outage).
import type { Meter } from './plan.js';

/** How a charge was decided, for metrics: in memory, in Redis, from a lease, or by the local fallback. */
export type ChargePath = 'memory' | 'redis' | 'lease' | 'local';

export type ChargeOutcome =
  /** `used[i]` is meter i's usage after the charge (for a lease: an estimate, see docs/budgets.md). */
  | { readonly kind: 'charged'; readonly used: readonly number[]; readonly path: ChargePath }
  /** Nothing was charged; `index` is the meter that refused (the one that resets last). */
  | { readonly kind: 'exhausted'; readonly index: number; readonly used: readonly number[] }
  /** The shared store cannot answer and the configured choice is to deny. */
  | { readonly kind: 'unavailable' };

export interface BudgetBackend {
  readonly name: 'memory' | 'redis';
  charge(meters: readonly Meter[], now: number): ChargeOutcome | Promise<ChargeOutcome>;
  /** Current usage of counters (keys as in Meter.key), for the admin API. */
  read(keys: readonly string[], now: number): Promise<number[]>;
  /** Forget every counter of a tenant (all windows). */
  reset(tenant: string): Promise<void>;
  isReady(): boolean;
  /** A shared store's reachability (Redis); absent for the in-process backend. */
  isReachable?(): boolean;
  ready(): Promise<void>;
  close(): Promise<void>;
}

export function isPromise<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}
