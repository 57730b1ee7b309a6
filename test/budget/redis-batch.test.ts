// Concurrent charges travel to Redis in one script call, charges of the same
// shape as one group (charge-batch.ts). Against a real redis-server, with two
// sidecars sharing one near-exhausted budget: mixed shapes (costs, tenants,
// per-principal counters) are admitted exactly as if one by one — never past
// the limit, each allowed decision shown its own counter value — and the
// batching is visible to an operator in the metrics.
import t from 'tap';
import { Redis } from 'ioredis';
import type { StageResult } from '../../src/decision/types.js';
import { redisUnavailableReason, startRedisServer } from '../support/redis-server.js';
import { build, decide, headersOf, TestClock, type Built } from './harness.js';

const skip = redisUnavailableReason();
if (skip !== undefined) console.log(`# skipping Redis batching tests: ${skip}`);

const DAY = Date.parse('2025-03-10T12:00:00Z');
const dayStart = Date.parse('2025-03-10T00:00:00Z');

type Decided = StageResult & { cost: number; tenant: string };

/** Metric value of a plain (label-less) series, 0 when absent. */
function metric(text: string, name: string): number {
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
}

t.test('mixed shapes from two sidecars on one near-exhausted budget: admitted as if one by one, never past the limit', { skip }, async (t) => {
  const redis = await startRedisServer(t);
  const clock = new TestClock(DAY);
  const section = {
    backend: 'redis',
    redis: { url: redis.url, key_prefix: 'batch:', timeout_ms: 2000, probe_interval_ms: 50 },
    tenants: { acme: { daily: 80, per_principal: { daily: 30 } }, globex: { daily: 40 } },
  };
  const fleet: Built[] = [build(t, section, { clock }), build(t, section, { clock })];
  await Promise.all(fleet.map((b) => b.cap.ready()));
  // Per sidecar: acme at cost 1 and 3 (per principal: alice, bob, carol), globex at cost 2.
  const kinds = fleet.map((b) => ({
    one: b.stage({ cost: 1, per_principal: true }),
    three: b.stage({ cost: 3, per_principal: true }),
    two: b.stage({ cost: 2 }),
  }));
  const users = ['alice', 'bob', 'carol'];
  const pending: Array<Promise<Decided>> = [];
  for (let i = 0; i < 240; i++) {
    const s = kinds[i % 2]!;
    const user = users[i % 3]!;
    const pick = i % 5;
    const [stage, cost, tenant] = pick === 4 ? [s.two, 2, 'globex'] : pick % 2 === 0 ? [s.one, 1, 'acme'] : [s.three, 3, 'acme'];
    pending.push(decide(stage, { user, tenant }).then((r) => Object.assign(r, { cost, tenant })));
  }
  const results = await Promise.all(pending);
  // Then one at a time at cost 1 until refused: whatever room is left is used up.
  for (const user of users) {
    for (;;) {
      const r = Object.assign(await decide(kinds[0]!.one, { user, tenant: 'acme' }), { cost: 1, tenant: 'acme' });
      results.push(r);
      if (r.kind !== 'allow') break;
    }
  }
  const refusals = results.filter((r) => r.kind === 'deny');
  t.ok(refusals.length > 0 && refusals.every((r) => r.kind === 'deny' && r.reason === 'budget_exhausted' && r.status === 429),
    'every refusal is budget_exhausted (429), none unavailable');

  const direct = new Redis(redis.url);
  t.teardown(() => direct.disconnect());
  const counter = async (key: string) => Number(await direct.get(`batch:${key}:daily:${dayStart}`) ?? 0) / 1e6;
  const allowed = results.filter((r) => r.kind === 'allow');
  const spent = (tenant: string) => allowed.filter((r) => r.tenant === tenant).reduce((s, r) => s + r.cost, 0);
  t.equal(await counter('{acme}'), spent('acme'), 'acme\'s counter holds exactly what was allowed');
  t.equal(await counter('{globex}'), spent('globex'), 'globex\'s counter holds exactly what was allowed');
  const acmeSpent = await counter('{acme}');
  t.ok(acmeSpent <= 80, `acme never past its limit (${acmeSpent} of 80)`);
  let principals = 0;
  for (const user of users) {
    const p = await counter(`{acme}:p:${user}`);
    t.ok(p <= 30, `${user} never past the per-principal limit (${p} of 30)`);
    principals += p;
  }
  t.equal(principals, acmeSpent, 'the per-principal counters add up to the tenant\'s');
  t.ok(await counter('{globex}') <= 40, 'globex never past its limit');
  // Each principal was charged until refused: the tenant's limit (80) binds before the principals' (3 × 30).
  t.equal(acmeSpent, 80, 'the room left was used up, to the unit');

  // One by one, each admitted charge finds the counter where the one before
  // left it: the remaining budgets the allowed decisions were shown are all
  // different, and each step down is that decision's cost.
  for (const tenant of ['acme', 'globex']) {
    const shown = allowed.filter((r) => r.tenant === tenant)
      .map((r) => ({ left: Number(headersOf(r)['x-budget-remaining-daily']), cost: r.cost }))
      .sort((a, b) => b.left - a.left);
    const limit = tenant === 'acme' ? 80 : 40;
    let expected = limit;
    for (const s of shown) {
      expected -= s.cost;
      if (s.left !== expected) {
        t.fail(`${tenant}: an allowed decision was shown ${s.left} left where ${expected} belongs`);
        break;
      }
    }
    t.equal(expected, limit - (await counter(`{${tenant}}`)), `${tenant}: every allowed decision saw its own counter value`);
  }

  // An operator sees the batching: charges per script call.
  let calls = 0;
  let charges = 0;
  for (const b of fleet) {
    const text = await b.metrics.registry.metrics();
    calls += metric(text, 'authz_budget_redis_batch_charges_count');
    charges += metric(text, 'authz_budget_redis_batch_charges_sum');
  }
  t.equal(charges, results.length, 'every decision was charged through a script call');
  t.ok(calls < 240 / 4, `batched: ${charges} charges in ${calls} script calls`);
});

t.test('a group of free requests: admitted at the limit, refused past it (as one by one)', { skip }, async (t) => {
  const redis = await startRedisServer(t);
  const clock = new TestClock(DAY);
  const b = build(t, {
    backend: 'redis',
    redis: { url: redis.url, key_prefix: 'free:', timeout_ms: 2000, probe_interval_ms: 50 },
    tenants: { acme: { daily: 5 } },
  }, { clock });
  await b.cap.ready();
  const direct = new Redis(redis.url);
  t.teardown(() => direct.disconnect());
  const key = `free:{acme}:daily:${dayStart}`;
  const free = b.stage({ cost: 0 });
  const burst = () => Promise.all(Array.from({ length: 8 }, () => decide(free)));
  await direct.set(key, String(5e6), 'PX', 60_000);
  t.same([...new Set((await burst()).map((r) => r.kind))], ['allow'], 'at the limit, a free request still fits');
  // Past the limit (an outage's local charges were written back, or the limit was lowered): even a free one is refused.
  await direct.set(key, String(6e6), 'PX', 60_000);
  const past = await burst();
  t.ok(past.every((r) => r.kind === 'deny' && r.reason === 'budget_exhausted'), 'past the limit every free request is refused');
  t.equal(await direct.get(key), String(6e6), 'nothing was charged');
});
