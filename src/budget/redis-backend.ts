// Shared budgets in Redis: every sidecar of a tenant charges the same
// counters, atomically (redis-scripts.ts). With leases most decisions are
// charged locally against reserved slices. When Redis cannot answer, the
// configured choice applies: deny, or charge locally and write the local
// charges back (reconcile) once Redis answers again.
import { Redis } from 'ioredis';
import type { Logger } from '../observability/logger.js';
import type { BudgetBackend, ChargeOutcome } from './backend.js';
import { LeaseBook, type Unused } from './lease-book.js';
import { MemoryCounters } from './memory-counters.js';
import type { BudgetMetrics } from './metrics.js';
import type { Meter } from './plan.js';
import { CHARGE_LUA, LuaScript, RECONCILE_LUA, RETURN_LUA } from './redis-scripts.js';
import { toMicro } from './units.js';
import { timeLimit } from '../util/time-limit.js';

export interface RedisBackendOptions {
  readonly url: string;
  readonly keyPrefix: string;
  readonly timeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly onUnavailable: 'deny' | 'local';
  readonly localFraction: number;
  readonly probeIntervalMs: number;
  /**
   * Leases, when enabled: each slice is a fraction of what remains, or (fraction 0)
   * fixed `units` — cost units for daily/monthly, requests for rps/rpm.
   */
  readonly leases?: { readonly fraction: number; readonly units: number; readonly ttlMs: number };
  readonly clock: () => number;
  readonly log: Logger;
  readonly metrics: BudgetMetrics;
}

/** Counters outlive their window by this much, so sidecars with slightly skewed clocks still share them. */
const EXPIRY_GRACE_MS = 2000;
const BATCH = 100;

const charge = new LuaScript(CHARGE_LUA);
const giveBack = new LuaScript(RETURN_LUA);
const reconcile = new LuaScript(RECONCILE_LUA);

interface Owed {
  amount: number;
  readonly windowEnd: number;
}

export class RedisBackend implements BudgetBackend {
  readonly name = 'redis';
  readonly client: Redis;
  /** True while Redis answers and nothing from an outage is left to write back. */
  private up = false;
  private closing = false;
  private recovering = false;
  private readonly local: MemoryCounters;
  /** Local fallback charges not yet in Redis, by full key. */
  private readonly owedCharges = new Map<string, Owed>();
  /** Lease remainders that could not be given back during an outage. */
  private readonly owedReturns = new Map<string, Owed>();
  private readonly leases: LeaseBook | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private readonly leaseTimer: NodeJS.Timeout | undefined;
  private readonly readyWaiters: Array<() => void> = [];

  constructor(private readonly opts: RedisBackendOptions) {
    this.local = new MemoryCounters(opts.localFraction);
    this.client = new Redis(opts.url, {
      // Fail fast instead of queueing while disconnected: the decision path
      // must never wait for a reconnect.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: opts.timeoutMs,
      connectTimeout: opts.connectTimeoutMs,
      retryStrategy: (attempt: number) => Math.min(attempt * 100, 2000),
      lazyConnect: false,
    });
    this.client.on('error', (err: Error) => {
      if (this.up) opts.log.warn({ error: err.message }, 'budget: redis connection error');
    });
    this.client.on('ready', () => void this.recover());
    this.client.on('close', () => {
      if (this.closing) return;
      // A dropped connection is often how an outage is noticed first (before
      // any charge fails): it is an error an operator must see in the metrics.
      if (this.up) this.opts.metrics.redisErrors.inc({ op: 'connection' });
      this.markDown('connection closed');
    });
    if (opts.leases !== undefined) {
      this.leases = new LeaseBook(opts.leases.ttlMs);
      const every = Math.max(50, Math.min(1000, opts.leases.ttlMs / 2));
      this.leaseTimer = setInterval(() => void this.returnExpiredLeases(), every);
      this.leaseTimer.unref();
    }
  }

  charge(meters: readonly Meter[], now: number): ChargeOutcome | Promise<ChargeOutcome> {
    const keys = this.keysOf(meters);
    if (this.leases !== undefined) {
      const used = this.leases.tryCharge(keys, meters, now);
      if (used !== undefined) return { kind: 'charged', used, path: 'lease' };
    }
    if (!this.up) return this.fallback(meters, keys, now);
    return this.chargeRemote(meters, keys, now);
  }

  private keysOf(meters: readonly Meter[]): string[] {
    const keys = new Array<string>(meters.length);
    for (let i = 0; i < meters.length; i++) keys[i] = this.opts.keyPrefix + meters[i]!.key;
    return keys;
  }

  private async chargeRemote(meters: readonly Meter[], keys: string[], now: number): Promise<ChargeOutcome> {
    const leases = this.leases;
    const args: (string | number)[] = [];
    for (let i = 0; i < meters.length; i++) {
      const m = meters[i]!;
      const slice = leases !== undefined && leases.wantsSlice(keys[i]!, m, now) ? this.sliceArg(m) : 0;
      args.push(m.spec.limit, m.amount, m.window.end - now + EXPIRY_GRACE_MS, slice);
    }
    args.push(this.opts.leases?.fraction ?? 0);
    let reply: unknown;
    const started = performance.now();
    try {
      reply = await charge.run(this.client, keys, args);
    } catch (err) {
      this.opts.metrics.redisErrors.inc({ op: 'charge' });
      this.markDown((err as Error).message);
      return this.fallback(meters, keys, this.opts.clock());
    } finally {
      this.opts.metrics.redisSeconds.observe({ op: 'charge' }, (performance.now() - started) / 1000);
    }
    return this.interpret(reply, meters, keys, now);
  }

  /** The CHARGE script's per-counter lease argument (see redis-scripts.ts). */
  private sliceArg(m: Meter): number {
    const { fraction, units } = this.opts.leases!;
    if (fraction > 0) return 1;
    return m.spec.cost ? toMicro(units) : Math.max(1, Math.round(units));
  }

  private interpret(reply: unknown, meters: readonly Meter[], keys: readonly string[], now: number): ChargeOutcome {
    const r = reply as number[];
    if (!Array.isArray(r) || r.length < 2) throw new Error('budget: unexpected reply from redis charge script');
    const used = new Array<number>(meters.length);
    if (r[0] === 0) {
      for (let i = 0; i < meters.length; i++) used[i] = Number(r[2 + i]);
      return { kind: 'exhausted', index: Number(r[1]) - 1, used };
    }
    for (let i = 0; i < meters.length; i++) {
      const counter = Number(r[2 + 2 * i]);
      const extra = Number(r[3 + 2 * i]);
      if (this.leases !== undefined) {
        const m = meters[i]!;
        if (extra > 0) {
          this.leases.credit(keys[i]!, tenantOf(m.key), m, extra, counter, now);
          this.opts.metrics.leaseGrants.inc({ tenant: tenantOf(m.key) });
        }
        used[i] = counter - this.leases.unusedOf(keys[i]!, now);
      } else {
        used[i] = counter;
      }
    }
    return { kind: 'charged', used, path: 'redis' };
  }

  /** Redis cannot answer: deny, or charge the local counters and owe the charge to Redis. */
  private fallback(meters: readonly Meter[], keys: readonly string[], now: number): ChargeOutcome {
    if (this.opts.onUnavailable === 'deny') return { kind: 'unavailable' };
    const outcome = this.local.charge(meters, now);
    if (outcome.kind !== 'charged') return outcome;
    for (let i = 0; i < meters.length; i++) owe(this.owedCharges, keys[i]!, meters[i]!.amount, meters[i]!.window.end);
    return { kind: 'charged', used: outcome.used, path: 'local' };
  }

  private markDown(why: string): void {
    if (this.up) this.opts.log.warn({ why, on_unavailable: this.opts.onUnavailable }, 'budget: redis unavailable');
    this.up = false;
    if (this.probeTimer === undefined && !this.closing) {
      this.probeTimer = setInterval(() => void this.recover(), this.opts.probeIntervalMs);
      this.probeTimer.unref();
    }
  }

  /** Once Redis answers a PING: write back what is owed, then serve from Redis again. */
  private async recover(): Promise<void> {
    if (this.recovering || this.closing || this.client.status !== 'ready') return;
    this.recovering = true;
    try {
      await this.client.ping();
      await this.settleOwed();
      const wasDown = this.probeTimer !== undefined;
      this.up = true;
      if (this.probeTimer !== undefined) clearInterval(this.probeTimer);
      this.probeTimer = undefined;
      if (wasDown) this.opts.log.info('budget: redis available again; local charges reconciled');
      for (const wake of this.readyWaiters.splice(0)) wake();
    } catch (err) {
      this.opts.metrics.redisErrors.inc({ op: 'recover' });
      this.markDown((err as Error).message);
    } finally {
      this.recovering = false;
    }
  }

  private async settleOwed(): Promise<void> {
    await this.flush(this.owedCharges, async (batch) => {
      const now = this.opts.clock();
      const args: number[] = [];
      for (const u of batch) args.push(u.amount, u.windowEnd - now + EXPIRY_GRACE_MS);
      await reconcile.run(this.client, batch.map((u) => u.key), args);
      this.opts.metrics.reconciled.inc(batch.length);
    });
    await this.flush(this.owedReturns, (batch) => this.giveBack(batch, 'expired'));
  }

  /** Sends an owed map in batches; what fails goes back into the map (and the error propagates). */
  private async flush(map: Map<string, Owed>, send: (batch: Unused[]) => Promise<void>): Promise<void> {
    if (map.size === 0) return;
    const now = this.opts.clock();
    const all: Unused[] = [];
    for (const [key, o] of map) if (o.windowEnd > now) all.push({ key, amount: o.amount, windowEnd: o.windowEnd });
    map.clear();
    for (let i = 0; i < all.length; i += BATCH) {
      const batch = all.slice(i, i + BATCH);
      try {
        await send(batch);
      } catch (err) {
        for (const u of all.slice(i)) owe(map, u.key, u.amount, u.windowEnd);
        throw err;
      }
    }
  }

  private async giveBack(unused: readonly Unused[], reason: 'expired' | 'closed'): Promise<void> {
    for (let i = 0; i < unused.length; i += BATCH) {
      const batch = unused.slice(i, i + BATCH);
      const started = performance.now();
      try {
        await giveBack.run(this.client, batch.map((u) => u.key), batch.map((u) => u.amount));
      } finally {
        this.opts.metrics.redisSeconds.observe({ op: 'return' }, (performance.now() - started) / 1000);
      }
      this.opts.metrics.leaseReturns.inc({ reason }, batch.length);
    }
  }

  private async returnExpiredLeases(): Promise<void> {
    if (this.leases === undefined) return;
    const expired = this.leases.takeExpired(this.opts.clock());
    if (expired.length === 0) return;
    if (!this.up) {
      for (const u of expired) owe(this.owedReturns, u.key, u.amount, u.windowEnd);
      return;
    }
    try {
      await this.giveBack(expired, 'expired');
    } catch (err) {
      this.opts.metrics.redisErrors.inc({ op: 'return' });
      for (const u of expired) owe(this.owedReturns, u.key, u.amount, u.windowEnd);
      this.markDown((err as Error).message);
    }
  }

  async read(keys: readonly string[]): Promise<number[]> {
    if (keys.length === 0) return [];
    if (!this.up) throw new Error('redis unavailable');
    const values = await this.client.mget(...keys.map((k) => this.opts.keyPrefix + k));
    return values.map((v) => (v === null ? 0 : Number(v)));
  }

  async reset(tenant: string): Promise<void> {
    this.leases?.dropTenant(tenant);
    this.local.deleteTenant(tenant);
    const prefix = `${this.opts.keyPrefix}{${tenant}}:`;
    for (const map of [this.owedCharges, this.owedReturns]) {
      for (const key of map.keys()) if (key.startsWith(prefix)) map.delete(key);
    }
    if (!this.up) throw new Error('redis unavailable');
    const pattern = `${escapeGlob(prefix)}*`;
    let cursor = '0';
    do {
      const [next, keys] = await this.client.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await this.client.unlink(...keys);
    } while (cursor !== '0');
  }

  /** Live lease remainders of this sidecar, by full key (for the admin API and tests). */
  outstandingLeases(): Map<string, number> {
    return this.leases?.outstanding(this.opts.clock()) ?? new Map();
  }

  /** Local fallback charges not yet written back to Redis, by full key. */
  owed(): Map<string, number> {
    return new Map([...this.owedCharges].map(([k, o]) => [k, o.amount]));
  }

  isReady(): boolean {
    return this.up || this.opts.onUnavailable === 'local';
  }

  /** Whether Redis answers now (for status; isReady is also true while the local fallback serves). */
  isReachable(): boolean {
    return this.up;
  }

  /**
   * Resolves on the first connection. If none comes within connect_timeout_ms:
   * rejects under `deny`; resolves under `local` (the fallback serves meanwhile).
   */
  ready(): Promise<void> {
    if (this.up) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.readyWaiters.indexOf(wake);
        if (i >= 0) this.readyWaiters.splice(i, 1);
        const why = `budget: redis at ${redactUrl(this.opts.url)} unreachable after ${this.opts.connectTimeoutMs} ms`;
        if (this.opts.onUnavailable === 'local') {
          this.opts.log.warn(`${why}; charging locally until it answers`);
          resolve();
        } else {
          reject(new Error(why));
        }
      }, this.opts.connectTimeoutMs);
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      this.readyWaiters.push(wake);
    });
  }

  /** Gives back lease remainders and owed charges (best effort, bounded), then disconnects. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.leaseTimer !== undefined) clearInterval(this.leaseTimer);
    if (this.probeTimer !== undefined) clearInterval(this.probeTimer);
    this.probeTimer = undefined;
    const unused = this.leases?.takeAll(this.opts.clock()) ?? [];
    if (this.up) {
      const settle = async () => {
        if (unused.length > 0) await this.giveBack(unused, 'closed');
        await this.settleOwed();
      };
      await withTimeout(settle(), Math.max(1000, this.opts.timeoutMs * 10)).catch((err: unknown) => {
        this.opts.log.warn({ error: (err as Error).message }, 'budget: could not give back leases on close');
      });
    }
    this.up = false;
    await withTimeout(this.client.quit().then(() => undefined), 1000).catch(() => this.client.disconnect());
  }
}

function owe(map: Map<string, Owed>, key: string, amount: number, windowEnd: number): void {
  const o = map.get(key);
  if (o !== undefined) o.amount += amount;
  else map.set(key, { amount, windowEnd });
}

/** Meter keys start with `{tenant}:`. */
function tenantOf(key: string): string {
  return key.slice(1, key.indexOf('}:'));
}

function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return timeLimit(p, ms, () => new Error(`timed out after ${ms} ms`));
}
