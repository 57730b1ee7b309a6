// Remote mode's decision cache against a real OpenFGA-compatible server over
// HTTP through @openfga/sdk: hits answered synchronously without an upstream
// call, separate allow/deny TTLs, coalescing of concurrent identical checks,
// and one BatchCheck for a route with several checks.
import t from 'tap';
import { buildRemote, ctxFor, evaluate, isPromise, metricValue, startFga } from './harness.js';
import { authzRequest } from '../../support/principals.js';

t.test('a cached decision is answered synchronously, without an upstream call', async (t) => {
  const fga = await startFga(t);
  const { stage, metrics, cap } = await buildRemote(t, fga);
  const s = stage({ relation: 'can_deploy' });

  const first = s.evaluate(authzRequest(), ctxFor({ user: 'alice' }));
  t.ok(isPromise(first), 'a miss goes upstream (a promise)');
  t.same(await first, { kind: 'allow' }, 'alice, admin of acme, may deploy acme-web');
  t.equal(fga.count('check'), 1);

  const ctx = ctxFor({ user: 'alice' });
  const second = s.evaluate(authzRequest(), ctx);
  t.notOk(isPromise(second), 'a hit is answered synchronously');
  t.same(second, { kind: 'allow' });
  t.equal(fga.count('check'), 1, 'no second upstream call');
  t.equal(ctx.annotations.fga_model_id, cap.checker.modelId(), 'the model id is recorded for audit');

  t.match(await evaluate(s, { user: 'carol' }), { kind: 'deny', status: 403, reason: 'rebac_denied' }, 'a viewer may not deploy');
  t.equal(fga.count('check'), 2);
  t.match(s.evaluate(authzRequest(), ctxFor({ user: 'carol' })), { kind: 'deny', reason: 'rebac_denied' }, 'the denial is cached too');
  t.equal(fga.count('check'), 2);

  t.equal(await metricValue(metrics, 'authz_rebac_cache_hits_total'), 2);
  t.equal(await metricValue(metrics, 'authz_rebac_cache_misses_total'), 2);
  const text = await metrics.registry.metrics();
  t.match(text, /authz_rebac_upstream_seconds_count\{op="check"\} 2/);
  t.match(text, /authz_rebac_breaker_state 0/);
});

t.test('the cache key covers the user, relation, object and context', async (t) => {
  const fga = await startFga(t);
  const { stage } = await buildRemote(t, fga);
  const deploy = stage({ relation: 'can_deploy' });
  const read = stage({ relation: 'can_read' });
  t.same(await evaluate(deploy, { user: 'alice' }), { kind: 'allow' });
  t.match(await evaluate(deploy, { user: 'bob' }), { kind: 'deny' }, 'another user is another key');
  t.same(await evaluate(read, { user: 'bob' }), { kind: 'allow' }, 'another relation is another key: a member may read');
  t.same(await evaluate(deploy, { user: 'alice', project: 'acme-api' }), { kind: 'allow' }, 'another object');
  t.match(await evaluate(deploy, { user: 'alice', project: 'acme-api', tenant: 'globex' }), { kind: 'allow' },
    'another tenant in the context is another key');
  t.equal(fga.count('check'), 5, 'every distinct check went upstream once');
});

t.test('allowed and denied decisions have their own TTLs', async (t) => {
  const fga = await startFga(t);
  const { stage } = await buildRemote(t, fga, { cache: { allow_ttl_ms: 60_000, deny_ttl_ms: 0 } });
  const s = stage({ relation: 'can_deploy' });
  await evaluate(s, { user: 'alice' });
  await evaluate(s, { user: 'alice' });
  t.equal(fga.count('check'), 1, 'allowed: cached for allow_ttl_ms');
  await evaluate(s, { user: 'carol' });
  await evaluate(s, { user: 'carol' });
  t.equal(fga.count('check'), 3, 'denied with deny_ttl_ms 0: never cached');

  const fga2 = await startFga(t);
  const short = await buildRemote(t, fga2, { cache: { allow_ttl_ms: 30, deny_ttl_ms: 60_000 } });
  const s2 = short.stage({ relation: 'can_deploy' });
  await evaluate(s2, { user: 'alice' });
  await evaluate(s2, { user: 'carol' });
  await new Promise((r) => setTimeout(r, 80));
  const again = s2.evaluate(authzRequest(), ctxFor({ user: 'alice' }));
  t.ok(isPromise(again), 'an allow past its TTL goes upstream again');
  t.same(await again, { kind: 'allow' });
  t.notOk(isPromise(s2.evaluate(authzRequest(), ctxFor({ user: 'carol' }))), 'the deny is still within its TTL');
});

t.test('the cache is bounded: the least recently used decision goes first', async (t) => {
  const fga = await startFga(t);
  const { stage, metrics } = await buildRemote(t, fga, { cache: { max: 2 } });
  const s = stage({ relation: 'can_read' });
  await evaluate(s, { user: 'alice' });
  await evaluate(s, { user: 'bob' });
  await evaluate(s, { user: 'carol' });
  const again = s.evaluate(authzRequest(), ctxFor({ user: 'alice' }));
  t.ok(isPromise(again), 'alice was evicted');
  t.equal(await metricValue(metrics, 'authz_rebac_cache_evictions_total', { reason: 'capacity' }), 1);
  await again;
  t.equal(await metricValue(metrics, 'authz_rebac_cache_evictions_total', { reason: 'capacity' }), 2, 'caching alice again evicts bob');
});

t.test('concurrent identical checks share one upstream call', async (t) => {
  const fga = await startFga(t, { latencyMs: 30 });
  const { stage, metrics } = await buildRemote(t, fga, { timeout_ms: 2000 });
  const s = stage({ relation: 'can_deploy' });
  const results = await Promise.all(Array.from({ length: 20 }, () => evaluate(s, { user: 'alice', deadlineMs: 5000 })));
  t.ok(results.every((r) => r.kind === 'allow'), 'all twenty allowed');
  t.equal(fga.count('check'), 1, 'one upstream request');
  t.equal(await metricValue(metrics, 'authz_rebac_coalesced_total'), 19);

  const mixed = await Promise.all([
    evaluate(s, { user: 'dave', deadlineMs: 5000 }),
    evaluate(s, { user: 'dave', deadlineMs: 5000 }),
    evaluate(s, { user: 'erin', deadlineMs: 5000 }),
  ]);
  t.match(mixed, [{ kind: 'deny' }, { kind: 'deny' }, { kind: 'deny' }], 'an editor and another org’s admin may not deploy');
  t.equal(fga.count('check'), 3, 'two distinct checks, two requests');
});

t.test('a route with several checks sends one BatchCheck', async (t) => {
  const fga = await startFga(t);
  const { stage } = await buildRemote(t, fga);
  const all = stage({
    checks: [{ relation: 'can_read' }, { relation: 'can_edit' }, { relation: 'member', object: 'org::tenant' }],
  });
  t.same(await evaluate(all, { user: 'alice' }), { kind: 'allow' }, 'alice reads, edits and is a member');
  t.equal(fga.count('batch-check'), 1, 'one batch-check request');
  t.equal(fga.count('check'), 0, 'no single checks');
  t.notOk(isPromise(all.evaluate(authzRequest(), ctxFor({ user: 'alice' }))), 'all three answers are now cached');

  t.match(await evaluate(all, { user: 'carol' }), { kind: 'deny', reason: 'rebac_denied' }, 'carol may read but not edit');
  t.equal(fga.count('batch-check'), 2);

  const any = stage({ checks: [{ relation: 'can_edit' }, { relation: 'viewer' }], mode: 'any' });
  t.same(await evaluate(any, { user: 'carol' }), { kind: 'allow' }, 'mode any: carol is a viewer');
  t.equal(fga.count('batch-check'), 2, "carol's can_edit was cached; only viewer went up, as a single check");
  t.equal(fga.count('check'), 1);
});
