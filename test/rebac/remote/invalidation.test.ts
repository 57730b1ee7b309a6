// Invalidation through the store's ReadChanges feed: a tuple deleted on the
// server stops being allowed within about one poll interval, long before the
// allow TTL; a change on an object evicts only that object's decisions unless
// its type is reachable through usersets or tuple-to-userset.
import t from 'tap';
import { authzRequest } from '../../support/principals.js';
import { buildRemote, ctxFor, decide, eventually, isPromise, metricValue, startFga } from './harness.js';
import type { Built } from './harness.js';

function polls(built: Built): number {
  return (built.cap.checker as unknown as { feed: { completedPolls: number } }).feed.completedPolls;
}

t.test('a deleted tuple stops being allowed within a poll, not after the TTL', async (t) => {
  const fga = await startFga(t);
  const built = await buildRemote(t, fga, { cache: { allow_ttl_ms: 600_000 }, changes: { poll_ms: 100 } });
  const read = built.stage({ relation: 'can_read' });
  const edit = built.stage({ relation: 'can_edit' });
  t.match(await decide(read, { user: 'carol' }), { kind: 'allow' }, 'carol views acme-web');
  t.match(await decide(edit, { user: 'dave', project: 'acme-api' }), { kind: 'allow' }, 'dave edits acme-api');
  t.notOk(isPromise(read.evaluate(authzRequest(), ctxFor({ user: 'carol' }))), 'cached');

  await fga.admin.write({ deletes: [{ user: 'user:carol', relation: 'viewer', object: 'project:acme-web' }] });
  await eventually(t, 'carol is denied (the allow TTL is ten minutes)', async () => (await decide(read, { user: 'carol' })).kind === 'deny');
  t.ok((await metricValue(built.metrics, 'authz_rebac_cache_evictions_total', { reason: 'invalidation' })) >= 1);
  t.ok((await metricValue(built.metrics, 'authz_rebac_changes_total')) >= 1);

  const dave = edit.evaluate(authzRequest(), ctxFor({ user: 'dave', project: 'acme-api' }));
  t.notOk(isPromise(dave), 'a change on project:acme-web left the decision on project:acme-api cached');
  t.same(dave, { kind: 'allow' });
});

t.test('a change on a type used by usersets or tuple-to-userset evicts everything', async (t) => {
  const fga = await startFga(t);
  const built = await buildRemote(t, fga, { cache: { allow_ttl_ms: 600_000 }, changes: { poll_ms: 100 } });
  const deploy = built.stage({ relation: 'can_deploy' });
  t.match(await decide(deploy, { user: 'alice' }), { kind: 'allow' }, 'alice deploys through admin from owner');
  t.match(await decide(deploy, { user: 'erin', project: 'globex-shop', tenant: 'globex' }), { kind: 'allow' });

  // org is reached through `admin from owner`: a change on org:acme can change project decisions.
  await fga.admin.write({ deletes: [{ user: 'user:alice', relation: 'admin', object: 'org:acme' }] });
  await eventually(t, 'alice may no longer deploy', async () => (await decide(deploy, { user: 'alice' })).kind === 'deny');
  const erin = deploy.evaluate(authzRequest(), ctxFor({ user: 'erin', project: 'globex-shop', tenant: 'globex' }));
  t.ok(isPromise(erin), 'the whole cache was evicted');
  t.match(await erin, { kind: 'allow' });

  await fga.admin.write({ writes: [{ user: 'user:alice', relation: 'admin', object: 'org:acme' }] });
  await eventually(t, 'a granted permission shows up too (the cached deny is evicted)',
    async () => (await decide(deploy, { user: 'alice' })).kind === 'allow');
});

t.test('the feed starts from now: old history is not replayed', async (t) => {
  const fga = await startFga(t);
  const built = await buildRemote(t, fga, { changes: { poll_ms: 50 } });
  const deploy = built.stage({ relation: 'can_deploy' });
  await decide(deploy, { user: 'alice' });
  const seen = await metricValue(built.metrics, 'authz_rebac_changes_total');
  const p = polls(built);
  await eventually(t, 'a few polls', () => polls(built) >= p + 3);
  t.equal(await metricValue(built.metrics, 'authz_rebac_changes_total'), seen, 'no change read again');
  t.notOk(isPromise(deploy.evaluate(authzRequest(), ctxFor({ user: 'alice' }))), 'still cached');
});

t.test('the feed survives an outage and catches up', async (t) => {
  const fga = await startFga(t);
  const built = await buildRemote(t, fga, { cache: { allow_ttl_ms: 600_000 }, changes: { poll_ms: 50 } });
  const read = built.stage({ relation: 'can_read' });
  t.match(await decide(read, { user: 'bob' }), { kind: 'allow' }, 'bob is a member of acme');
  fga.mode = 'fail500';
  await eventually(t, 'a poll fails',
    async () => (await metricValue(built.metrics, 'authz_rebac_upstream_errors_total', { op: 'read_changes' })) >= 1);
  t.notOk(isPromise(read.evaluate(authzRequest(), ctxFor({ user: 'bob' }))), 'cached decisions still answer (within their TTL)');
  await fga.admin.write({ deletes: [{ user: 'user:bob', relation: 'member', object: 'org:acme' }] });
  fga.mode = 'pass';
  await eventually(t, 'bob is denied once the feed is back', async () => (await decide(read, { user: 'bob' })).kind === 'deny');
});
