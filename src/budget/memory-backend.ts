// The default backend: one sidecar's counters in memory; every answer is synchronous.
import type { BudgetBackend, ChargeOutcome } from './backend.js';
import { MemoryCounters } from './memory-counters.js';
import type { Meter } from './plan.js';

const SWEEP_MS = 60_000;

export class MemoryBackend implements BudgetBackend {
  readonly name = 'memory';
  private readonly counters = new MemoryCounters();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly clock: () => number) {
    this.sweeper = setInterval(() => this.counters.sweep(this.clock()), SWEEP_MS);
    this.sweeper.unref();
  }

  charge(meters: readonly Meter[], now: number): ChargeOutcome {
    return this.counters.charge(meters, now);
  }

  read(keys: readonly string[], now: number): Promise<number[]> {
    return Promise.resolve(keys.map((k) => this.counters.peek(k, now)));
  }

  reset(tenant: string): Promise<void> {
    this.counters.deleteTenant(tenant);
    return Promise.resolve();
  }

  isReady(): boolean {
    return true;
  }

  ready(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    clearInterval(this.sweeper);
    return Promise.resolve();
  }
}
