// The Redis backend against a real redis-server: atomic check-and-charge
// across sidecars, key expiry, EVALSHA fallback, and Redis dying or hanging
// mid-run under both on_unavailable choices.
import t, { type Test } from 'tap';
import { Redis } from 'ioredis';
import type { RedisBackend } from '../../src/budget/redis-backend.js';
import type { StageResult } from '../../src/decision/types.js';
import { redisUnavailableReason, startRedisServer, type RedisServer } from '../support/redis-server.js';
import { bodyOf, build, decide, evaluate, headersOf, TestClock, type Built } from './harness.js';

const skip = redisUnavailableReason();
if (skip !== undefined) console.log(`# skipping Redis budget tests: ${skip}`);

const DAY = Date.parse('2025-03-10T12:00:00Z');
const dayStart = Date.parse('2025-03-10T00:00:00Z');

function redisSection(redis: RedisServer, extra: Record<string, unknown> = {}, tenants: unknown = { acme: { daily: 100 } }) {
  return {
    backend: 'redis',
    redis: { url: redis.url, key_prefix: 'test:', timeout_ms: 1000, probe_interval_ms: 50, ...extra },
    tenants,
  };
}

async function sidecars(t: Test, n: number, section: unknown, clock: TestClock): Promise<Built[]> {
  const all = Array.from({ length: n }, () => build(t, section, { clock }));
  await Promise.all(all.map((b) => b.cap.ready()));
  return all;
}

function client(t: Test, redis: RedisServer): Redis {
  const c = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  t.teardown(() => c.disconnect());
  return c;
}

async function eventually(what: string, check: () => Promise<boolean>): Promise<void> {
  const until = Date.now() + 15_000;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const kinds = (rs: StageResult[]) => rs.map((r) => (r.kind === 'deny' ? r.reason : r.kind));

t.test('parallel sidecars share one budget: exactly the limit is allowed, atomically', { skip }, async (t) => {
  const redis = await startRedisServer(t);
  const clock = new TestClock(DAY);
  const fleet = await sidecars(t, 4, redisSection(redis), clock);
  const stages = fleet.map((b) => b.stage({ cost: 1 }));
  const first = evaluate(stages[0]!);
  t.ok(first.result instanceof Promise, 'a Redis round trip is a promise');
  t.equal((await first.result).kind, 'allow');
  const results = await Promise.all(Array.from({ length: 240 }, (_, i) => decide(stages[i % 4]!)));
  const allowed = results.filter((r) => r.kind === 'allow').length;
  t.equal(allowed, 99, '100 in total, never one more');
  t.ok(results.filter((r) => r.kind === 'deny').every((r) => r.kind === 'deny' && r.reason === 'budget_exhausted' && r.status === 429));
  const c = client(t, redis);
  const key = `test:{acme}:daily:${dayStart}`;
  t.equal(await c.get(key), String(100 * 1e6), 'the Redis counter holds exactly the allowed spend (micro-units)');
  const ttl = await c.pttl(key);
  t.ok(ttl > 0 && ttl <= 12 * 3600 * 1000 + 2000, `the key expires with its window (pttl ${ttl})`);
  const denied = results.find((r) => r.kind === 'deny')!;
  t.equal(headersOf(denied)['retry-after'], String(12 * 3600));
  t.equal(bodyOf(denied).budget, 'daily');
  t.match(results.find((r) => r.kind === 'allow')!.ctx.annotations.budget, { via: 'redis' });
  // Concurrent decisions of one sidecar went to Redis together: fewer script calls than charges.
  let calls = 0;
  let charges = 0;
  for (const b of fleet) {
    const text = await b.metrics.registry.metrics();
    calls += Number(/authz_budget_redis_batch_charges_count (\d+)/.exec(text)?.[1] ?? 0);
    charges += Number(/authz_budget_redis_batch_charges_sum (\d+)/.exec(text)?.[1] ?? 0);
  }
  t.equal(charges, 241, 'every decision was charged through a script call');
  t.ok(calls < charges / 4, `batched: ${charges} charges in ${calls} script calls`);
});

t.test('classes, per-principal and rate limits through Redis; EVALSHA falls back after SCRIPT FLUSH', { skip }, async (t) => {
  const redis = await startRedisServer(t);
  const clock = new TestClock(DAY);
  const [b] = await sidecars(t, 1, redisSection(redis, {}, {
    acme: { daily: 10, rps: 100, classes: { bulk: { daily: 1 } }, per_principal: { daily: 2 } },
  }), clock);
  const bulk = b!.stage({ class: 'bulk', cost: 1 });
  const realtime = b!.stage({ cost: 1 });
  const r = await decide(bulk);
  t.match(headersOf(r), { 'x-budget-class': 'bulk', 'x-budget-remaining-bulk-daily': '0', 'x-budget-remaining-daily': '9',
    'x-budget-remaining-principal-daily': '1', 'x-budget-remaining-rps': '99' });
  t.match(bodyOf(await decide(bulk, { user: 'bob' })), { budget: 'bulk.daily' });
  await client(t, redis).script('FLUSH');
  t.equal((await decide(realtime)).kind, 'allow', 'the script is reloaded with EVAL');
  t.match(bodyOf(await decide(realtime)), { budget: 'principal.daily' });
  t.equal((await decide(realtime, { user: 'bob' })).kind, 'allow');
});

t.test('Redis killed mid-run with on_unavailable: deny → 503 budget_unavailable, no crash; serves again when back', { skip }, async (t) => {
  const redis = await startRedisServer(t);
  const clock = new TestClock(DAY);
  const [b] = await sidecars(t, 1, redisSection(redis), clock);
  const s = b!.stage({ cost: 1 });
  t.equal((await decide(s)).kind, 'allow');
  const inFlight = Array.from({ length: 50 }, () => decide(s));
  await redis.kill();
  const settled = kinds(await Promise.all(inFlight));
  t.ok(settled.every((k) => k === 'allow' || k === 'budget_unavailable'), `every in-flight decision settles: ${[...new Set(settled)]}`);
  const during = await Promise.all(Array.from({ length: 20 }, () => decide(s)));
  t.same([...new Set(kinds(during))], ['budget_unavailable']);
  t.match(during[0], { status: 503 });
  t.match(during[0]!.ctx.annotations.budget, { unavailable: true });
  t.equal(b!.cap.isReady(), false, 'not ready while the shared budget cannot be checked');
  t.match(b!.cap.status(), { state: 'error', message: /redis unavailable and on_unavailable=deny/ }, 'status says why');
  await redis.restart();
  await eventually('allowed again', async () => (await decide(s)).kind === 'allow');
  t.equal(b!.cap.isReady(), true);
  t.match(b!.cap.status(), { state: 'ok', details: { backend: 'redis' } });
  const text = await b!.metrics.registry.metrics();
  // Whichever noticed the outage first — a failed charge or the dropped connection — counted it.
  t.match(text, /authz_budget_redis_errors_total\{op="(charge|connection)"\} [1-9]/);
  t.match(text, /authz_budget_redis_duration_seconds_count\{op="charge"\} [1-9]/);
});

t.test('Redis hanging (SIGSTOP): calls hit timeout_ms and deny; no request waits longer', { skip }, async (t) => {
  const redis = await startRedisServer(t);
  const clock = new TestClock(DAY);
  const [b] = await sidecars(t, 1, redisSection(redis, { timeout_ms: 100 }), clock);
  const s = b!.stage({ cost: 1 });
  t.equal((await decide(s)).kind, 'allow');
  redis.pause();
  t.teardown(() => redis.resume());
  t.match(await decide(s), { kind: 'deny', status: 503, reason: 'budget_unavailable' });
  redis.resume();
  await eventually('allowed again', async () => (await decide(s)).kind === 'allow');
  // The timed-out call may still run once Redis wakes: the denied request is
  // then charged too (conservative, see README), never the other way round.
  const counter = Number(await client(t, redis).get(`test:{acme}:daily:${dayStart}`));
  t.ok(counter >= 2e6 && counter <= 3e6, `the counter survived the pause (${counter / 1e6})`);
});

t.test('local fallback: charges locally during the outage, reconciles into Redis, bound holds across sidecars', { skip }, async (t) => {
  const redis = await startRedisServer(t);
  const clock = new TestClock(DAY);
  const limit = 10;
  const fraction = 0.5;
  const fleet = await sidecars(t, 3, redisSection(redis, { timeout_ms: 100, on_unavailable: 'local', local_fraction: fraction },
    { acme: { daily: limit } }), clock);
  const stages = fleet.map((b) => b.stage({ cost: 1 }));
  for (let i = 0; i < 8; i++) t.equal((await decide(stages[i % 3]!)).kind, 'allow');
  redis.pause();
  t.teardown(() => redis.resume());
  let localAllowed = 0;
  for (const s of stages) {
    for (let i = 0; i < 8; i++) {
      const r = await decide(s);
      if (r.kind === 'allow') {
        localAllowed++;
        t.match(r.ctx.annotations.budget, { via: 'local' });
      } else {
        t.match(r, { reason: 'budget_exhausted' }, 'the local share is enforced');
      }
    }
  }
  t.equal(localAllowed, 3 * limit * fraction, 'each sidecar spent at most local_fraction × limit on its own');
  t.equal(fleet[0]!.cap.isReady(), true, 'the local fallback keeps the sidecar ready');
  t.match(fleet[0]!.cap.status(), { state: 'warn', message: /charged locally/ }, 'and status warns that Redis is away');
  redis.resume();
  const c = client(t, redis);
  const key = `test:{acme}:daily:${dayStart}`;
  await eventually('all three reconciled', async () =>
    fleet.every((b) => (b.cap.backend as RedisBackend).owed().size === 0));
  const total = 8 + localAllowed;
  // At least every allowed charge is in Redis; a call that timed out as the
  // outage began may have landed too (its request was charged locally as well).
  const counter = Number(await c.get(key)) / 1e6;
  t.ok(counter >= total && counter <= total + 3, `Redis holds the reconciled spend (${counter} for ${total} allowed)`);
  t.ok(total <= limit + 3 * fraction * limit, `spend ${total} within the documented bound limit × (1 + N × local_fraction)`);
  await eventually('back on Redis', async () => {
    const r = await decide(stages[0]!);
    return r.kind === 'deny' && r.reason === 'budget_exhausted';
  });
  t.match(await fleet[0]!.metrics.registry.metrics(), /authz_budget_reconciled_total [1-9]/);
});

t.test('charges made locally while the write-back is in flight are written back too, and steady traffic does not keep it from ending', { skip }, async (t) => {
  const redis = await startRedisServer(t);
  const clock = new TestClock(DAY);
  const [b] = await sidecars(t, 1, redisSection(redis, { timeout_ms: 100, on_unavailable: 'local', local_fraction: 0.5 },
    { acme: { daily: 100 } }), clock);
  const stage = b!.stage({ cost: 1 });
  let charged = 0;
  const via = async (): Promise<string> => {
    const r = await decide(stage);
    t.equal(r.kind, 'allow');
    charged++;
    return (r.ctx.annotations.budget as { via: string }).via;
  };
  t.equal(await via(), 'redis');
  redis.pause();
  t.teardown(() => redis.resume());
  t.equal(await via(), 'local', 'down: charged locally, owed');
  // Steady traffic: a charge lands while every write-back pass is in flight.
  const backend = b!.cap.backend as unknown as { settleOwed(): Promise<void> };
  const pass = backend.settleOwed.bind(backend);
  const duringPasses: string[] = [];
  let traffic = true;
  backend.settleOwed = async () => {
    const running = pass();
    if (traffic) duringPasses.push(await via());
    await running;
  };
  redis.resume();
  await eventually('back on Redis', async () => duringPasses.length > 0 && (await via()) === 'redis');
  traffic = false; // close() writes back through the same pass
  t.equal(duringPasses[0], 'local', 'the charge during the first write-back was made locally');
  t.same((b!.cap.backend as RedisBackend).owed(), new Map(), 'and nothing is left owed');
  const c = client(t, redis);
  // The charge sent as Redis paused timed out (charged locally) and may run once Redis resumes: at most one more.
  const counter = Number(await c.get(`test:{acme}:daily:${dayStart}`)) / 1e6;
  t.ok(counter >= charged && counter <= charged + 1, `Redis holds every charge (${counter} for ${charged})`);
});

t.test('admin read and reset on Redis: reset deletes every window of the tenant only', { skip }, async (t) => {
  const redis = await startRedisServer(t);
  const clock = new TestClock(DAY);
  const [b] = await sidecars(t, 1, redisSection(redis, {}, { acme: { daily: 10, rpm: 100 }, globex: { daily: 10 } }), clock);
  const s = b!.stage({ cost: 3 });
  await decide(s);
  await decide(s, { tenant: 'globex' });
  const backend = b!.cap.backend;
  t.same(await backend.read([`{acme}:daily:${dayStart}`], clock.now), [3e6]);
  await backend.reset('acme');
  t.same(await backend.read([`{acme}:daily:${dayStart}`, `{globex}:daily:${dayStart}`], clock.now), [0, 3e6]);
  const c = client(t, redis);
  t.same(await c.keys('test:{acme}:*'), [], 'rpm and daily keys gone');
});
