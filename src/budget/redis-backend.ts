// Shared budgets in Redis: every sidecar of a tenant charges the same
// counters, atomically (redis-scripts.ts). Concurrent decisions are charged
// together: while one script call is in flight for a slot, the charges that
// arrive queue, and go in the next call, one call for all of them
// (charge-batch.ts). With leases most decisions are charged locally against
// reserved slices. When Redis cannot answer — or answers anything but the
// exact reply — the configured choice applies: deny, or charge locally and
// write the local charges back (reconcile) once Redis answers again.
import type { Redis } from 'ioredis';
import type { Logger } from '../observability/logger.js';
import type { BudgetBackend, ChargeOutcome } from './backend.js';
import { buildBatch, EXPIRY_GRACE_MS, readBatchReply, type BatchCharge } from './charge-batch.js';
import { keySlot, sharedSlot } from './key-slot.js';
import { LeaseBook, type Unused } from './lease-book.js';
import { MemoryCounters } from './memory-counters.js';
import type { BudgetMetrics } from './metrics.js';
import type { Meter } from './plan.js';
import { RedisConnection, type RedisTarget } from './redis-connection.js';
import { CHARGE_LUA, LuaScript, RECONCILE_LUA, RETURN_LUA } from './redis-scripts.js';
import { toMicro } from './units.js';
import { timeLimit } from '../util/time-limit.js';

export interface RedisBackendOptions {
  readonly target: RedisTarget;
  readonly keyPrefix: string;
  readonly timeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly onUnavailable: 'deny' | 'local';
  readonly localFraction: number;
  readonly probeIntervalMs: number;
  /** Largest reply read from Redis (resp-reply-guard.ts). */
  readonly maxReplyBytes: number;
  /** Most charges in one script call. */
  readonly maxBatch: number;
  /** Replicas that must have a charge before it is allowed (WAIT); 0: none. Not with a cluster. */
  readonly minReplicas?: number;
  /**
   * Leases, when enabled: each slice is a fraction of what remains, or (fraction 0)
   * fixed `units` — cost units for daily/monthly, requests for rps/rpm.
   */
  readonly leases?: { readonly fraction: number; readonly units: number; readonly ttlMs: number };
  readonly clock: () => number;
  readonly log: Logger;
  readonly metrics: BudgetMetrics;
}

/** Script calls in flight per queue: past it, charges wait for a reply and go in the next call. */
const IN_FLIGHT = 2;

/** Without leases no charge asks for a slice (a charge has at most 12 meters: 4 kinds × tenant, class, principal). */
const NO_SLICES: number[] = new Array<number>(64).fill(0);

/** Full keys remembered by keysOf before the map is cleared. */
const MAX_FULL_KEYS = 10_000;

/** Keys per RETURN / RECONCILE call. */
const BATCH = 100;

const charge = new LuaScript(CHARGE_LUA);
const giveBack = new LuaScript(RETURN_LUA);
const reconcile = new LuaScript(RECONCILE_LUA);

interface Owed {
  amount: number;
  readonly windowEnd: number;
}

interface Pending extends BatchCharge {
  /** Lease asks, decided when the call is built (a lease granted meanwhile changes them). */
  slices: number[];
  readonly resolve: (outcome: ChargeOutcome) => void;
}

/** The charges of one slot (everything, on a single Redis) waiting for the next script call. */
interface ChargeQueue {
  readonly pending: Pending[];
  /** Script calls of this queue awaiting their reply. */
  inFlight: number;
  scheduled: boolean;
}

export class RedisBackend implements BudgetBackend {
  readonly name = 'redis';
  readonly connection: RedisConnection;
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
  /** By slot on a cluster; one queue ('') on a single Redis. */
  private readonly queues = new Map<string, ChargeQueue>();
  private nonce = 0;
  /** Meter key → full key (see keysOf). */
  private readonly fullKeys = new Map<string, string>();
  private warnedCrossSlot = false;

  constructor(private readonly opts: RedisBackendOptions) {
    this.local = new MemoryCounters(opts.localFraction);
    this.connection = new RedisConnection({
      target: opts.target,
      timeoutMs: opts.timeoutMs,
      connectTimeoutMs: opts.connectTimeoutMs,
      maxReplyBytes: opts.maxReplyBytes,
      onRefusedReply: (kind, why) => {
        this.opts.metrics.redisRepliesRefused.inc({ why: kind });
        this.opts.log.warn({ why }, 'budget: redis reply refused; dropping the connection');
        this.markDown(why);
      },
    });
    const client = this.connection.client;
    client.on('error', (err: Error) => {
      if (this.up) opts.log.warn({ error: err.message }, 'budget: redis connection error');
    });
    client.on('ready', () => void this.recover());
    client.on('close', () => {
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

  get client() {
    return this.connection.client;
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

  /**
   * The full keys, each the same string object for as long as its meter key
   * is in use: a fresh concatenation per charge had to be flattened and
   * hashed again by every map that looks it up (the batch's counter index,
   * the lease book) — measurable at tens of thousands of charges a second.
   */
  private keysOf(meters: readonly Meter[]): string[] {
    const keys = new Array<string>(meters.length);
    const full = this.fullKeys;
    for (let i = 0; i < meters.length; i++) {
      const key = meters[i]!.key;
      let k = full.get(key);
      if (k === undefined) {
        // Bounded: per-principal keys and rolled-over windows are forgotten wholesale.
        if (full.size >= MAX_FULL_KEYS) full.clear();
        k = this.opts.keyPrefix + key;
        full.set(key, k);
      }
      keys[i] = k;
    }
    return keys;
  }

  /** Queues the charge for its slot's next script call. */
  private chargeRemote(meters: readonly Meter[], keys: string[], now: number): Promise<ChargeOutcome> | ChargeOutcome {
    let group = '';
    if (this.connection.isCluster) {
      const slot = sharedSlot(keys);
      if (slot < 0) return this.crossSlot(meters, keys, now);
      group = String(slot);
    }
    let queue = this.queues.get(group);
    if (queue === undefined) {
      queue = { pending: [], inFlight: 0, scheduled: false };
      this.queues.set(group, queue);
    }
    const q = queue;
    return new Promise<ChargeOutcome>((resolve) => {
      q.pending.push({ meters, keys, slices: NO_SLICES, resolve });
      this.schedule(q);
    });
  }

  /** A tenant whose keys hash to different slots (its name starts with `}`) cannot be charged atomically. */
  private crossSlot(meters: readonly Meter[], keys: readonly string[], now: number): ChargeOutcome {
    this.opts.metrics.redisErrors.inc({ op: 'crossslot' });
    if (!this.warnedCrossSlot) {
      this.warnedCrossSlot = true;
      this.opts.log.warn({ key: keys[0] }, 'budget: a tenant whose counters fall in different cluster slots (a name starting with "}"); its charges follow on_unavailable');
    }
    return this.fallback(meters, keys, now);
  }

  private slicesFor(meters: readonly Meter[], keys: readonly string[], now: number): number[] {
    const slices = new Array<number>(meters.length);
    const leases = this.leases;
    for (let i = 0; i < meters.length; i++) {
      const m = meters[i]!;
      slices[i] = leases !== undefined && leases.wantsSlice(keys[i]!, m, now) ? this.sliceArg(m) : 0;
    }
    return slices;
  }

  /**
   * The next call leaves once this turn of the event loop has queued what it
   * will (setImmediate runs right after the I/O callbacks of this turn), and
   * only when no call of the queue is in flight: under load, what queues
   * during one round trip goes in the next call.
   */
  private schedule(q: ChargeQueue): void {
    if (q.inFlight >= IN_FLIGHT || q.scheduled) return;
    q.scheduled = true;
    setImmediate(() => {
      q.scheduled = false;
      this.send(q).catch((err: unknown) => this.opts.log.error({ error: (err as Error).message }, 'budget: charge queue failed'));
    });
  }

  private async send(q: ChargeQueue): Promise<void> {
    if (q.inFlight >= IN_FLIGHT || q.pending.length === 0) return;
    const now = this.opts.clock();
    const batch = this.takeBatch(q, now);
    if (batch.length > 0 && !this.up) {
      for (const c of batch) c.resolve(this.fallback(c.meters, c.keys, now));
    } else if (batch.length > 0) {
      q.inFlight++;
      // More than max_batch waiting: the next call may leave now, alongside.
      if (q.pending.length > 0) this.schedule(q);
      try {
        await this.call(batch, now);
      } catch (err) {
        // Never expected (the call answers every charge itself); a bug here
        // must not leave decisions waiting for their deadline.
        this.opts.log.error({ error: (err as Error).message }, 'budget: charge batch failed');
        const later = this.opts.clock();
        for (const c of batch) c.resolve(this.fallback(c.meters, c.keys, later));
      } finally {
        q.inFlight--;
      }
    }
    if (q.pending.length > 0) this.schedule(q);
  }

  /** One script call for the batch; every charge is answered: by the reply, or by on_unavailable. */
  private async call(batch: Pending[], now: number): Promise<void> {
    const nonce = (this.nonce = (this.nonce % 0x7fffffff) + 1);
    const call = buildBatch(batch, nonce, this.opts.leases?.fraction ?? 0, now);
    const epoch = this.connection.doubtEpoch;
    const started = performance.now();
    let reply: unknown;
    let failure: string | undefined;
    try {
      reply = await this.runCharge(call.keys, call.args);
    } catch (err) {
      failure = (err as Error).message;
      this.opts.metrics.redisErrors.inc({ op: err instanceof NotReplicated ? 'replication' : 'charge' });
      // A command that timed out may still be answered, and that answer would
      // be taken for the next command's: the connection's replies are in doubt.
      if (failure === 'Command timed out') this.connection.dropConnectionOf(call.keys[0]!);
    } finally {
      this.opts.metrics.redisSeconds.observe({ op: 'charge' }, (performance.now() - started) / 1000);
      this.opts.metrics.batchSize.observe(batch.length);
    }
    if (failure === undefined && epoch !== this.connection.doubtEpoch) {
      // The guard refused bytes of this connection (and counted it) after the call left.
      failure = 'reply read from a connection whose stream was refused';
    } else if (failure === undefined) {
      const read = readBatchReply(reply, nonce, batch, call);
      if (typeof read !== 'string') {
        this.settle(batch, call, read, now);
        return;
      }
      failure = `unexpected reply to the charge script: ${read}`;
      this.opts.metrics.redisRepliesRefused.inc({ why: read.startsWith('answers call') ? 'mismatched' : 'malformed' });
      this.opts.log.warn({ why: read }, 'budget: redis reply refused; dropping the connection');
      this.connection.dropConnectionOf(call.keys[0]!);
    }
    this.markDown(failure);
    const later = this.opts.clock();
    for (const c of batch) c.resolve(this.fallback(c.meters, c.keys, later));
  }

  /**
   * The charge script; with min_replicas, followed by a WAIT: a charge fewer
   * replicas have could be lost in a failover, so its decisions follow
   * on_unavailable (it stays charged: conservative).
   */
  private async runCharge(keys: readonly string[], args: readonly number[]): Promise<unknown> {
    const replicas = this.opts.minReplicas ?? 0;
    if (replicas === 0 || this.connection.isCluster) return charge.run(this.client, keys, args);
    const waitMs = Math.max(1, Math.floor(this.opts.timeoutMs / 2));
    const { reply, acknowledged } = await charge.runReplicated(this.client as Redis, keys, args, replicas, waitMs);
    if (acknowledged < replicas) throw new NotReplicated(`charge acknowledged by ${acknowledged} of ${replicas} replicas within ${waitMs} ms`);
    return reply;
  }

  /** Up to max_batch charges; those a lease granted meanwhile can serve are answered at once. */
  private takeBatch(q: ChargeQueue, now: number): Pending[] {
    const take = q.pending.splice(0, this.opts.maxBatch);
    const leases = this.leases;
    if (leases === undefined) return take;
    const out: Pending[] = [];
    for (const c of take) {
      const used = leases.tryCharge(c.keys, c.meters, now);
      if (used !== undefined) {
        c.resolve({ kind: 'charged', used, path: 'lease' });
        continue;
      }
      c.slices = this.slicesFor(c.meters, c.keys, now);
      out.push(c);
    }
    return out;
  }

  private settle(batch: readonly Pending[], call: ReturnType<typeof buildBatch>, reply: Exclude<ReturnType<typeof readBatchReply>, string>, now: number): void {
    const leases = this.leases;
    // What this sidecar held unspent before this call's slices, per counter.
    const unusedBefore = new Array<number>(call.keys.length);
    for (let k = 0; k < call.keys.length; k++) {
      const key = call.keys[k]!;
      unusedBefore[k] = leases === undefined ? 0 : leases.unusedOf(key, now);
      const extra = reply.extra[k]!;
      if (leases !== undefined && extra > 0) {
        const m = call.meterOf[k]!;
        leases.credit(key, tenantOf(m.key), m, extra, reply.final[k]!, now);
        this.opts.metrics.leaseGrants.inc({ tenant: tenantOf(m.key) });
      }
    }
    for (let c = 0; c < batch.length; c++) {
      const verdict = reply.verdicts[c]!;
      const slots = call.slots[c]!;
      if (!verdict.admitted) {
        batch[c]!.resolve({ kind: 'exhausted', index: verdict.refused, used: verdict.values });
        continue;
      }
      const used = verdict.values;
      if (leases !== undefined) for (let i = 0; i < used.length; i++) used[i] = used[i]! - unusedBefore[slots[i]!]!;
      batch[c]!.resolve({ kind: 'charged', used, path: 'redis' });
    }
  }

  /** The CHARGE script's per-counter lease argument (see redis-scripts.ts). */
  private sliceArg(m: Meter): number {
    const { fraction, units } = this.opts.leases!;
    if (fraction > 0) return 1;
    return m.spec.cost ? toMicro(units) : Math.max(1, Math.round(units));
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
      // Until `up`, every charge was local: those made while the pass above ran
      // are owed too (they used to stay owed until the next outage). From here
      // on none are made, so one more pass is the last; repeating passes before
      // `up` instead would never end under steady traffic (each pass one round
      // trip, each round trip new local charges). If it fails, the catch below
      // marks Redis down and the probe retries it like any write-back.
      await this.settleOwed();
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
      await this.runScript(reconcile, batch.map((u) => u.key), args);
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
    const batches = this.batchesBySlot(all);
    for (let i = 0; i < batches.length; i++) {
      try {
        await send(batches[i]!);
      } catch (err) {
        for (const b of batches.slice(i)) for (const u of b) owe(map, u.key, u.amount, u.windowEnd);
        throw err;
      }
    }
  }

  /** Batches of at most BATCH keys; on a cluster, each of one slot (a script touches one slot only). */
  private batchesBySlot(items: readonly Unused[]): Unused[][] {
    const groups = new Map<number, Unused[]>();
    if (!this.connection.isCluster) groups.set(0, [...items]);
    else {
      for (const u of items) {
        const slot = keySlot(u.key);
        const g = groups.get(slot);
        if (g === undefined) groups.set(slot, [u]);
        else g.push(u);
      }
    }
    const out: Unused[][] = [];
    for (const g of groups.values()) for (let i = 0; i < g.length; i += BATCH) out.push(g.slice(i, i + BATCH));
    return out;
  }

  /** Runs a script; a call that timed out leaves its connection's replies in doubt, so that connection is dropped. */
  private async runScript(script: LuaScript, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await script.run(this.client, keys, args);
    } catch (err) {
      if ((err as Error).message === 'Command timed out') this.connection.dropConnectionOf(keys[0]!);
      throw err;
    }
  }

  private async giveBack(unused: readonly Unused[], reason: 'expired' | 'closed'): Promise<void> {
    for (const batch of this.batchesBySlot(unused)) {
      const started = performance.now();
      try {
        await this.runScript(giveBack, batch.map((u) => u.key), batch.map((u) => u.amount));
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
    const full = keys.map((k) => this.opts.keyPrefix + k);
    // One tenant's keys share a slot, unless its name defeats the hash tag.
    const values = !this.connection.isCluster || sharedSlot(full) >= 0
      ? await this.client.mget(...full)
      : await Promise.all(full.map((k) => this.client.get(k)));
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
    // On a cluster every master holds some slots: each is scanned.
    for (const node of this.connection.masters()) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
        cursor = next;
        if (keys.length === 0) continue;
        if (!this.connection.isCluster || sharedSlot(keys) >= 0) await node.unlink(...keys);
        else for (const k of keys) await node.unlink(k);
      } while (cursor !== '0');
    }
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
        const why = `budget: redis at ${this.connection.description} unreachable after ${this.opts.connectTimeoutMs} ms`;
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

class NotReplicated extends Error {}

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

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return timeLimit(p, ms, () => new Error(`timed out after ${ms} ms`));
}
