// Budgets on a real Redis Cluster (3 masters, 3 replicas, created with
// `redis-cli --cluster create`): each tenant's counters share one slot, so
// its script runs on one master; a master killed mid-run fails over to its
// replica, decisions meanwhile follow on_unavailable, and afterwards the
// budget is still never overspent.
import t, { type Test } from 'tap';
import { Redis } from 'ioredis';
import { keySlot } from '../../src/budget/key-slot.js';
import { BudgetPlans, buildMeters } from '../../src/budget/plan.js';
import { parseBudgetConfig } from '../../src/budget/config.js';
import { WindowCache } from '../../src/budget/windows.js';
import type { StageResult } from '../../src/decision/types.js';
import { startRedisCluster, topologyUnavailableReason, type TestCluster } from '../support/redis-topologies.js';
import { build, decide, TestClock, type Built } from './harness.js';

const skip = topologyUnavailableReason();
if (skip !== undefined) console.log(`# skipping Redis Cluster budget tests: ${skip}`);

const DAY = Date.parse('2025-03-10T12:00:00Z');
const dayStart = Date.parse('2025-03-10T00:00:00Z');
const PREFIX = 'cl:';

function section(cluster: TestCluster, tenants: Record<string, unknown>) {
  return {
    backend: 'redis',
    redis: { cluster: { nodes: cluster.masters.map((m) => m.url) }, key_prefix: PREFIX, timeout_ms: 500, probe_interval_ms: 50 },
    tenants,
  };
}

async function sidecars(t: Test, n: number, cfg: unknown, clock: TestClock): Promise<Built[]> {
  const all = Array.from({ length: n }, () => build(t, cfg, { clock }));
  await Promise.all(all.map((b) => b.cap.ready()));
  return all;
}

const kind = (r: StageResult) => (r.kind === 'deny' ? r.reason : r.kind);

let cluster: TestCluster;
t.before(async () => {
  if (skip === undefined) cluster = await startRedisCluster(t);
});

t.test('every counter a charge touches is in its tenant\'s slot, as the cluster computes it', { skip }, async (t) => {
  const tenants = ['acme', 'globex', 'a}b', 'x{y', 'ünïcødé', 'tenant:with:colons'];
  const limits = { rps: 100, rpm: 1000, daily: 10, monthly: 100, classes: { bulk: { daily: 5 } }, per_principal: { daily: 3 } };
  const config = parseBudgetConfig({ backend: 'redis', tenants: Object.fromEntries(tenants.map((x) => [x, limits])) });
  const plans = new BudgetPlans(config);
  const node = new Redis(cluster.masters[0]!.port, '127.0.0.1', { protocol: 2 });
  t.teardown(() => node.disconnect());
  for (const tenant of tenants) {
    const meters = buildMeters(plans.get(tenant, 'bulk', true)!, 'alice', 1_000_000, DAY, new WindowCache());
    t.equal(meters.length, 6, `${tenant}: the tenant's 4, the class's and the principal's counters`);
    const slots = new Set<number>();
    for (const m of meters) {
      const key = PREFIX + m.key;
      const theirs = (await node.call('cluster', 'keyslot', key)) as number;
      t.equal(keySlot(key), theirs, `our slot of ${key} is the cluster's`);
      slots.add(theirs);
    }
    t.equal(slots.size, 1, `${tenant}: one slot for all ${meters.length} counters`);
  }
  // And charging them works on whichever master holds the slot.
  const clock = new TestClock(DAY);
  const [b] = await sidecars(t, 1, section(cluster, Object.fromEntries(tenants.map((x) => [x, limits]))), clock);
  const stage = b!.stage({ class: 'bulk', cost: 1 });
  for (const tenant of tenants) t.equal(kind(await decide(stage, { tenant })), 'allow', `${tenant} charged on the cluster`);
});

t.test('a tenant whose name defeats the hash tag ("}x") is never charged across slots: on_unavailable answers', { skip }, async (t) => {
  const clock = new TestClock(DAY);
  const [b] = await sidecars(t, 1, section(cluster, { '}x': { daily: 10, rps: 100 } }), clock);
  t.match(await decide(b!.stage({ cost: 1 }), { tenant: '}x' }), { kind: 'deny', status: 503, reason: 'budget_unavailable' });
  t.match(await b!.metrics.registry.metrics(), /authz_budget_redis_errors_total\{op="crossslot"\} 1/);
});

t.test('a master killed mid-run: decisions follow on_unavailable (deny) during the failover, the budget is never overspent', { skip }, async (t) => {
  const clock = new TestClock(DAY);
  const limit = 40;
  const fleet = await sidecars(t, 2, section(cluster, { acme: { daily: limit }, globex: { daily: limit } }), clock);
  const stages = fleet.map((b) => b.stage({ cost: 1 }));
  const tally = { acme: { allowed: 0, unavailable: 0 }, globex: { allowed: 0, unavailable: 0 } };
  const unexpected: string[] = [];
  const wave = async (n: number): Promise<string[]> => {
    const results = await Promise.all(Array.from({ length: n }, (_, i) => {
      const tenant = i % 2 === 0 ? 'acme' : 'globex';
      return decide(stages[i % 2]!, { tenant }).then((r) => ({ tenant, r }));
    }));
    for (const { tenant, r } of results) {
      const k = kind(r);
      if (k === 'allow') tally[tenant as 'acme'].allowed++;
      else if (k === 'budget_unavailable') tally[tenant as 'acme'].unavailable++;
      else if (k !== 'budget_exhausted') unexpected.push(`${tenant}: ${k}`);
    }
    return results.map(({ r }) => kind(r));
  };
  await wave(20);
  t.same(tally, { acme: { allowed: 10, unavailable: 0 }, globex: { allowed: 10, unavailable: 0 } }, 'all allowed before the failover');

  const acmeKey = `${PREFIX}{acme}:daily:${dayStart}`;
  const victim = await cluster.masterOf(acmeKey);
  // Its replica has every acknowledged charge (replication is asynchronous:
  // see docs/budgets.md for what a master lost before replicating means).
  const direct = new Redis(victim.port, '127.0.0.1', { protocol: 2 });
  t.equal(await direct.call('wait', '1', '5000'), 1, 'the replica has caught up');
  direct.disconnect();
  await victim.kill();
  const during = new Set<string>();
  for (let i = 0; i < 4; i++) for (const k of await wave(10)) during.add(k);
  t.ok([...during].every((k) => k === 'allow' || k === 'budget_unavailable'), `during the failover: ${[...during].join(', ')}`);
  t.ok(during.has('budget_unavailable'), 'some decisions met the dead master and were denied (on_unavailable: deny)');

  await cluster.untilHealthy(acmeKey);
  const promoted = await cluster.masterOf(acmeKey);
  t.not(promoted.port, victim.port, 'a replica took over the slot');
  const until = Date.now() + 20_000;
  while ((await wave(2)).some((k) => k !== 'allow') && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  // Spend both budgets to the end.
  for (let i = 0; i < 20 && (await wave(20)).some((k) => k === 'allow'); i++);

  const c = new Redis(promoted.port, '127.0.0.1', { protocol: 2 });
  t.teardown(() => c.disconnect());
  const counter = Number(await c.get(acmeKey)) / 1e6;
  const { allowed, unavailable } = tally.acme;
  t.same(unexpected, [], 'every decision was allowed, denied unavailable, or refused exhausted');
  t.comment(`acme: allowed ${allowed}, denied unavailable ${unavailable}, counter ${counter} of ${limit}`);
  t.ok(allowed <= limit, `never overspent: ${allowed} allowed of ${limit}`);
  t.ok(counter >= allowed, 'every allowed charge is in the promoted master');
  t.ok(counter <= limit, 'the counter never passes the limit');
  t.ok(counter <= allowed + unavailable, 'what the counter holds beyond the allowed is denied calls that landed');
  t.ok(allowed >= limit - unavailable, 'the budget was spent, save calls in doubt');
  const text = await fleet[0]!.metrics.registry.metrics();
  t.match(text, /authz_budget_redis_errors_total\{op="(charge|connection)"\} [1-9]/);
});
