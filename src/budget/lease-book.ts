// Leases: slices of a tenant's remaining budget that this sidecar has already
// reserved in Redis (the Redis counter includes them), charged here with no
// round trip. Because a slice is reserved before it is spent, leases never let
// a budget be overspent; what they cost is budget that sits unused in some
// sidecar's lease until it is returned or expires (see docs/budgets.md, "Leases").
import type { Meter } from './plan.js';

interface Lease {
  readonly tenant: string;
  /** Units reserved in Redis for this sidecar, in total. */
  granted: number;
  /** Units of the grant this sidecar has spent. */
  used: number;
  /** After this (epoch ms) the lease serves nothing; its unused part goes back. */
  expiresAt: number;
  /** The counter's window end: past it there is nothing to give back. */
  readonly windowEnd: number;
  /** What Redis had left for everyone else at the last grant, for the remaining-budget estimate. */
  remainingOutside: number;
}

export interface Unused {
  readonly key: string;
  readonly amount: number;
  readonly windowEnd: number;
}

export class LeaseBook {
  private readonly leases = new Map<string, Lease>();

  constructor(private readonly ttlMs: number) {}

  /**
   * Charges the request to leases when every meter's lease is live and has
   * room; returns the estimated usage per meter, or undefined (go to Redis).
   */
  tryCharge(keys: readonly string[], meters: readonly Meter[], now: number): number[] | undefined {
    for (let i = 0; i < meters.length; i++) {
      const lease = this.leases.get(keys[i]!);
      if (lease === undefined || lease.expiresAt <= now || lease.granted - lease.used < meters[i]!.amount) return undefined;
    }
    const used = new Array<number>(meters.length);
    for (let i = 0; i < meters.length; i++) {
      const lease = this.leases.get(keys[i]!)!;
      const m = meters[i]!;
      lease.used += m.amount;
      used[i] = m.spec.limit - (lease.remainingOutside + lease.granted - lease.used);
    }
    return used;
  }

  /** Whether the next Redis charge for this counter should ask for a slice. */
  wantsSlice(key: string, meter: Meter, now: number): boolean {
    const lease = this.leases.get(key);
    return lease === undefined || lease.expiresAt <= now || lease.granted - lease.used < meter.amount;
  }

  /** Records a slice Redis granted; `counter` is the Redis counter after the grant. */
  credit(key: string, tenant: string, meter: Meter, extra: number, counter: number, now: number): void {
    const expiresAt = Math.min(now + this.ttlMs, meter.window.end);
    const remainingOutside = Math.max(0, meter.spec.limit - counter);
    const lease = this.leases.get(key);
    if (lease !== undefined && lease.expiresAt > now) {
      lease.granted += extra;
      lease.expiresAt = expiresAt;
      lease.remainingOutside = remainingOutside;
      return;
    }
    this.leases.set(key, { tenant, granted: extra, used: 0, expiresAt, windowEnd: meter.window.end, remainingOutside });
  }

  /** Usage estimate after a Redis charge: the counter minus what this sidecar holds unspent. */
  unusedOf(key: string, now: number): number {
    const lease = this.leases.get(key);
    return lease === undefined || lease.expiresAt <= now ? 0 : lease.granted - lease.used;
  }

  /** Removes expired leases and returns their unused parts (to give back while their window lives). */
  takeExpired(now: number): Unused[] {
    const out: Unused[] = [];
    for (const [key, lease] of this.leases) {
      if (lease.expiresAt > now) continue;
      this.leases.delete(key);
      const amount = lease.granted - lease.used;
      if (amount > 0 && lease.windowEnd > now) out.push({ key, amount, windowEnd: lease.windowEnd });
    }
    return out;
  }

  /** Removes every lease (close) and returns what is unused and still in its window. */
  takeAll(now: number): Unused[] {
    const out: Unused[] = [];
    for (const [key, lease] of this.leases) {
      const amount = lease.granted - lease.used;
      if (amount > 0 && lease.windowEnd > now) out.push({ key, amount, windowEnd: lease.windowEnd });
    }
    this.leases.clear();
    return out;
  }

  /** After an admin reset the reservations are gone from Redis too: forget them, return nothing. */
  dropTenant(tenant: string): void {
    for (const [key, lease] of this.leases) if (lease.tenant === tenant) this.leases.delete(key);
  }

  /** Units this sidecar holds reserved but unspent, per counter key (live leases only). */
  outstanding(now: number): Map<string, number> {
    const out = new Map<string, number>();
    for (const [key, lease] of this.leases) if (lease.expiresAt > now) out.set(key, lease.granted - lease.used);
    return out;
  }

  get size(): number {
    return this.leases.size;
  }
}
