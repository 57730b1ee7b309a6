// Leases against a real Redis: hits answer synchronously, several sidecars
// hammering one tenant never overspend, and unused slices go back.
import t, { type Test } from 'tap';
import { Redis } from 'ioredis';
import type { RedisBackend } from '../../src/budget/redis-backend.js';
import { redisUnavailableReason, startRedisServer, type RedisServer } from '../support/redis-server.js';
import { build, decide, evaluate, TestClock, type Built } from './harness.js';

const skip = redisUnavailableReason();
if (skip !== undefined) console.log(`# skipping Redis lease tests: ${skip}`);

const DAY = Date.parse('2025-03-10T12:00:00Z');
const KEY = `lease:{acme}:daily:${Date.parse('2025-03-10T00:00:00Z')}`;

function section(redis: RedisServer, leases: Record<string, unknown>, daily: number) {
  return {
    backend: 'redis',
    redis: { url: redis.url, key_prefix: 'lease:', timeout_ms: 2000, probe_interval_ms: 50 },
    leases: { enabled: true, ...leases },
    tenants: { acme: { daily } },
  };
}

async function fleet(t: Test, n: number, cfg: unknown, clock: TestClock): Promise<Built[]> {
  const all = Array.from({ length: n }, () => build(t, cfg, { clock }));
  await Promise.all(all.map((b) => b.cap.ready()));
  return all;
}

const outstanding = (b: Built) => (b.cap.backend as RedisBackend).outstandingLeases().get(KEY) ?? 0;

function client(t: Test, redis: RedisServer): Redis {
  const c = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  t.teardown(() => c.disconnect());
  return c;
}

t.test('a lease hit answers synchronously; the first request takes the slice in one round trip', { skip }, async (t) => {
  const redis = await startRedisServer(t);
  const clock = new TestClock(DAY);
  const [b] = await fleet(t, 1, section(redis, { slice: { units: 10 }, ttl_s: 60 }, 100), clock);
  const s = b!.stage({ cost: 1 });
  const first = evaluate(s);
  t.ok(first.result instanceof Promise, 'no lease yet: Redis');
  t.equal((await first.result).kind, 'allow');
  t.equal(Number(await client(t, redis).get(KEY)), 11e6, 'the request (1) and a slice (10) reserved together');
  for (let i = 0; i < 10; i++) {
    const hit = evaluate(s);
    t.notOk(hit.result instanceof Promise, `lease hit ${i + 1} is synchronous`);
    t.match(hit.result, { kind: 'allow' });
    t.match(hit.ctx.annotations.budget, { via: 'lease', remaining: { daily: 100 - 2 - i } });
  }
  const miss = evaluate(s).result;
  t.ok(miss instanceof Promise, 'the slice is spent: back to Redis');
  t.equal((await miss).kind, 'allow');
  t.match(await b!.metrics.registry.metrics(), /authz_budget_lease_grants_total\{tenant="acme"\} 2/);
});

t.test('several sidecars hammering one tenant in parallel never overspend (leases reserve before they spend)', { skip }, async (t) => {
  const redis = await startRedisServer(t);
  const clock = new TestClock(DAY);
  const limit = 500;
  const sidecars = await fleet(t, 5, section(redis, { slice: 0.2, ttl_s: 600 }, limit), clock);
  const stages = sidecars.map((b) => b.stage({ cost_header: 'x-cost' }));
  let allowedSpend = 0;
  let rounds = 0;
  // Waves of parallel requests with costs 1..3, each wave reaching every
  // sidecar, until a whole wave is refused (every lease and Redis are spent).
  for (let refusedAll = false; !refusedAll && rounds < 500; rounds++) {
    const wave = await Promise.all(Array.from({ length: 40 }, (_, i) => {
      const cost = 1 + ((i * 7 + rounds) % 3);
      return decide(stages[(i + rounds) % 5]!, { headers: { 'x-cost': String(cost) } }).then((r) => ({ r, cost }));
    }));
    refusedAll = true;
    for (const { r, cost } of wave) {
      if (r.kind === 'allow') {
        allowedSpend += cost;
        refusedAll = false;
      } else {
        t.equal(r.kind === 'deny' && r.reason, 'budget_exhausted');
      }
    }
  }
  const c = client(t, redis);
  const counter = Number(await c.get(KEY)) / 1e6;
  const held = sidecars.reduce((sum, b) => sum + outstanding(b), 0) / 1e6;
  t.comment(`${rounds} waves: spent ${allowedSpend}, Redis counter ${counter}, held in leases ${held}`);
  t.ok(allowedSpend <= limit, `spent ${allowedSpend} of ${limit}: never more (bound: limit + outstanding leases = ${limit + held})`);
  t.equal(counter, allowedSpend + held, 'Redis counter = spent + unspent leases, exactly');
  t.ok(allowedSpend >= limit - held - 3, `what is not spent sits in outstanding leases (${held}), minus less than one request`);
  t.ok(allowedSpend >= limit - 5 * 3, 'once every sidecar is refused, each holds less than one request: the budget was used');
  const holding = sidecars.map((b) => outstanding(b) > 0);
  await Promise.all(sidecars.map((b) => b.cap.close()));
  t.equal(Number(await c.get(KEY)) / 1e6, allowedSpend, 'closing gives every unused slice back: Redis = spent');
  const texts = await Promise.all(sidecars.map((b) => b.metrics.registry.metrics()));
  t.same(texts.map((x) => /authz_budget_lease_returns_total\{reason="closed"\} [1-9]/.test(x)), holding,
    'each sidecar that held a slice counted its return at close, and no other');
});

t.test('an expired lease returns its unused part; another sidecar can then spend it', { skip }, async (t) => {
  const redis = await startRedisServer(t);
  const clock = new TestClock(DAY);
  const [a, b] = await fleet(t, 2, section(redis, { slice: 1, ttl_s: 0.2 }, 10), clock);
  const sa = a!.stage({ cost: 1 });
  const sb = b!.stage({ cost: 1 });
  t.equal((await decide(sa)).kind, 'allow', 'A takes everything: 1 + a slice of 9');
  t.equal(outstanding(a!), 9e6);
  t.match(await decide(sb), { kind: 'deny', reason: 'budget_exhausted' }, 'B finds nothing left in Redis');
  clock.advance(250);
  const c = client(t, redis);
  const until = Date.now() + 10_000;
  while (Number(await c.get(KEY)) !== 1e6 && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
  t.equal(Number(await c.get(KEY)), 1e6, 'A gave back its 9 unused units');
  t.equal((await decide(sb)).kind, 'allow', 'B can spend them');
  t.match(await a!.metrics.registry.metrics(), /authz_budget_lease_returns_total\{reason="expired"\} 1/);
});

t.test('a lease keeps serving while Redis is down; misses follow on_unavailable', { skip }, async (t) => {
  const redis = await startRedisServer(t);
  const clock = new TestClock(DAY);
  const [b] = await fleet(t, 1, section(redis, { slice: { units: 5 }, ttl_s: 60 }, 100), clock);
  const s = b!.stage({ cost: 1 });
  t.equal((await decide(s)).kind, 'allow');
  await redis.kill();
  for (let i = 0; i < 5; i++) t.match(evaluate(s).result, { kind: 'allow' }, 'reserved budget is still ours');
  t.match(await decide(s), { kind: 'deny', status: 503, reason: 'budget_unavailable' });
});
