// Contextual tuples from token claims (route option contextual_tuples) and
// HIGHER_CONSISTENCY (route option consistency), embedded and remote.
// config/fga/model.fga: project can_read = ... or member from owner; zed has
// no tuples at all, so only a `groups` claim naming an owning org lets him read.
import t from 'tap';
import type { Test } from 'tap';
import type { Stage } from '../../src/decision/types.js';
import { authzRequest } from '../support/principals.js';
import { buildEmbedded, buildRemote, ctxFor, decide, metricValue, startFga, thrown } from './remote/harness.js';
import type { Built, Who } from './remote/harness.js';

/** The StageFailure a stage throws (the engine turns it into the deny; its message is the reason's detail). */
const failure = (s: Stage, who: Who): unknown => thrown(() => s.evaluate(authzRequest(), ctxFor(who)));

const FROM_GROUPS = { relation: 'can_read', contextual_tuples: [{ claim: 'groups', relation: 'member', type: 'org', max: 3 }] };

async function claimCases(t: Test, built: Built): Promise<void> {
  const s = built.stage(FROM_GROUPS);
  t.match(await decide(s, { user: 'zed', claims: { groups: ['acme'] } }), { kind: 'allow' }, 'groups [acme] → user:zed member org:acme');
  t.match(await decide(s, { user: 'zed', claims: { groups: ['globex', 'initech'] } }), { kind: 'deny', reason: 'rebac_denied' }, 'other groups');
  t.match(await decide(s, { user: 'zed', claims: {} }), { kind: 'deny', reason: 'rebac_denied' }, 'no claim: no tuples');
  t.match(await decide(s, { user: 'zed', claims: { groups: ['acme', 'acme', 'acme', 'acme'] } }), { kind: 'allow' }, 'duplicates count once');
  for (const [what, groups] of [['a string', 'acme'], ['numbers', [1, 2]], ['an object', { acme: true }], ['null', null]] as const) {
    t.match(await decide(s, { user: 'zed', claims: { groups } }), { kind: 'deny', status: 403, reason: 'rebac_bad_request' }, `${what}: bad request`);
    t.match(failure(s, { user: 'zed', claims: { groups } }), { reason: 'rebac_bad_request', message: /claim 'groups' must be a list of strings/ });
  }
  const tooMany = { user: 'zed', claims: { groups: ['a', 'b', 'c', 'acme'] } };
  t.match(await decide(s, tooMany), { kind: 'deny', status: 403, reason: 'rebac_bad_request' }, 'over max');
  t.match(failure(s, tooMany), { message: /4 values, more than the route's max of 3/ });
  t.match(await decide(s, { user: 'zed', claims: { groups: ['acme#member', 'acme x'] } }), { kind: 'deny', reason: 'rebac_denied' },
    'values are escaped: "acme#member" is not a userset of org:acme, "acme x" not org:acme');
}

t.test('embedded: groups claim → contextual tuples', async (t) => {
  await claimCases(t, buildEmbedded(t));
});

t.test('remote: groups claim → contextual tuples, and the tuples are part of the cache key', async (t) => {
  const fga = await startFga(t);
  const built = await buildRemote(t, fga);
  await claimCases(t, built);
  const s = built.stage(FROM_GROUPS);
  t.match(await decide(s, { user: 'zed', claims: { groups: ['acme'] } }), { kind: 'allow' });
  t.match(await decide(s, { user: 'zed', claims: { groups: ['globex'] } }), { kind: 'deny', reason: 'rebac_denied' },
    'the same check with other tuples is not answered from the cached allow');
  t.match(await decide(s, { user: 'zed', claims: { groups: [] } }), { kind: 'deny', reason: 'rebac_denied' });
});

t.test('rules are checked against the model at load', async (t) => {
  const built = buildEmbedded(t);
  const rule = (r: Record<string, unknown>) => ({ relation: 'can_read', contextual_tuples: [{ claim: 'groups', ...r }] });
  t.throws(() => built.stage(rule({ relation: 'member', type: 'team' })), /the model has no type 'team'/);
  t.throws(() => built.stage(rule({ relation: 'boss', type: 'org' })), /type 'org' has no relation 'boss'/);
  t.throws(() => built.stage(rule({ relation: 'owner', type: 'project' })), /does not accept 'user' directly/);
  t.throws(() => built.stage(rule({ relation: 'member', type: 'org', max: 101 })), /max/);
  t.doesNotThrow(() => built.stage(rule({ relation: 'member', type: 'org' })));

  const fga = await startFga(t);
  const remote = await buildRemote(t, fga);
  t.throws(() => remote.stage(rule({ relation: 'member', type: 'team' })), /no type 'team'/, 'remote, model already read');
});

t.test('remote: a rule that does not fit the model fails start-up', async (t) => {
  const fga = await startFga(t);
  const { createRebacCapability } = await import('../../src/rebac/index.js');
  const { SidecarMetrics } = await import('../../src/observability/metrics.js');
  const { log, REPO } = await import('./remote/harness.js');
  const cap = createRebacCapability(
    { mode: 'remote', remote: { api_url: fga.apiUrl, store_id: fga.storeId } },
    { log, metrics: new SidecarMetrics({ defaultMetrics: false }), baseDir: REPO, env: {} },
  );
  t.teardown(() => cap.close());
  cap.stageFactory.create({ relation: 'can_read', contextual_tuples: [{ claim: 'groups', relation: 'member', type: 'team' }] },
    { route: 'r', resourceType: 'project', action: 'read' });
  await t.rejects(cap.ready(), /route's options do not fit the authorization model: .*no type 'team'/);
});

t.test('remote: consistency higher_consistency bypasses the cache; the default is cached', async (t) => {
  const fga = await startFga(t);
  const built = await buildRemote(t, fga);
  const fresh = built.stage({ relation: 'can_deploy', consistency: 'higher_consistency' });
  for (let i = 0; i < 3; i++) t.match(await decide(fresh, { user: 'alice' }), { kind: 'allow' });
  t.equal(fga.count('check'), 3, 'every decision asked OpenFGA');
  t.equal(await metricValue(built.metrics, 'authz_rebac_cache_bypassed_total'), 3);
  t.equal(await metricValue(built.metrics, 'authz_rebac_cache_hits_total'), 0);

  const freshBatch = built.stage({ checks: [{ relation: 'can_deploy' }, { relation: 'can_read' }], consistency: 'higher_consistency' });
  t.match(await decide(freshBatch, { user: 'alice' }), { kind: 'allow' });
  t.match(await decide(freshBatch, { user: 'alice' }), { kind: 'allow' });
  t.equal(fga.count('batch-check'), 2, 'BatchCheck too');

  const cached = built.stage({ relation: 'can_deploy' });
  t.match(await decide(cached, { user: 'alice' }), { kind: 'allow' });
  t.match(await decide(cached, { user: 'alice' }), { kind: 'allow' });
  t.equal(fga.count('check'), 4, 'default: the second decision was a cache hit (nothing the fresh route fetched was cached)');
  t.equal(await metricValue(built.metrics, 'authz_rebac_cache_hits_total'), 1);
});
