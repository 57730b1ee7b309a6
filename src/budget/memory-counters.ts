// Counters in this process: the memory backend, and the Redis backend's local
// fallback. A key names its window's start, so an entry is simply dropped
// once its window has ended.
import type { ChargeOutcome } from './backend.js';
import type { Meter } from './plan.js';

interface Entry {
  used: number;
  /** The window's end (epoch ms): past it the entry is dead. */
  readonly end: number;
}

export class MemoryCounters {
  private readonly counts = new Map<string, Entry>();

  /** @param share fraction of each limit these counters may grant (the local fallback's `local_fraction`). */
  constructor(private readonly share = 1) {}

  charge(meters: readonly Meter[], now: number): ChargeOutcome {
    const used = new Array<number>(meters.length);
    // The live entries found by the check, so the charge does not look them up again.
    const live = new Array<Entry | undefined>(meters.length);
    let refused = -1;
    for (let i = 0; i < meters.length; i++) {
      const m = meters[i]!;
      const found = this.counts.get(m.key);
      const entry = found !== undefined && found.end > now ? found : undefined;
      live[i] = entry;
      const u = entry !== undefined ? entry.used : 0;
      used[i] = u;
      const limit = this.share === 1 ? m.spec.limit : Math.floor(m.spec.limit * this.share);
      if (u + m.amount > limit && (refused < 0 || m.window.end > meters[refused]!.window.end)) refused = i;
    }
    if (refused >= 0) return { kind: 'exhausted', index: refused, used };
    for (let i = 0; i < meters.length; i++) {
      const m = meters[i]!;
      const entry = live[i];
      if (entry !== undefined) entry.used += m.amount;
      else this.counts.set(m.key, { used: m.amount, end: m.window.end });
      used[i] = used[i]! + m.amount;
    }
    return { kind: 'charged', used, path: 'memory' };
  }

  peek(key: string, now: number): number {
    const entry = this.counts.get(key);
    return entry !== undefined && entry.end > now ? entry.used : 0;
  }

  /** Drops every counter of a tenant; keys start with `{tenant}:`. */
  deleteTenant(tenant: string): void {
    const prefix = `{${tenant}}:`;
    for (const key of this.counts.keys()) if (key.startsWith(prefix)) this.counts.delete(key);
  }

  /** Drops the counters whose window has ended. */
  sweep(now: number): void {
    for (const [key, entry] of this.counts) if (entry.end <= now) this.counts.delete(key);
  }

  get size(): number {
    return this.counts.size;
  }
}
