// Fail-closed: an OpenFGA that is slow, answers 5xx or is down denies with
// rebac_unavailable — never allows — and the circuit breaker stops calling a
// failing server, then probes it back.
import t from 'tap';
import { authzRequest } from '../../support/principals.js';
import { buildRemote, ctxFor, decide, eventually, metricValue, startFga, thrown } from './harness.js';

t.test('a check slower than timeout_ms denies rebac_unavailable', async (t) => {
  const fga = await startFga(t);
  const { stage, metrics } = await buildRemote(t, fga, { timeout_ms: 50 });
  const s = stage({ relation: 'can_deploy' });
  fga.mode = 'hang';
  t.match(await decide(s, { user: 'alice', deadlineMs: 5000 }), { kind: 'deny', status: 503, reason: 'rebac_unavailable', stage: 'rebac' });
  t.equal(await metricValue(metrics, 'authz_rebac_upstream_errors_total', { op: 'check', kind: 'timeout' }), 1);
});

t.test("the request's own deadline bounds the wait, and still names rebac", async (t) => {
  const fga = await startFga(t);
  const { stage } = await buildRemote(t, fga, { timeout_ms: 5000 });
  fga.mode = 'hang';
  t.match(await decide(stage({ relation: 'can_deploy' }), { user: 'alice', deadlineMs: 60 }),
    { kind: 'deny', status: 503, reason: 'rebac_unavailable' });
});

t.test('a 5xx denies rebac_unavailable, without retrying it', async (t) => {
  const fga = await startFga(t);
  const { stage, metrics } = await buildRemote(t, fga);
  fga.mode = 'fail500';
  t.match(await decide(stage({ relation: 'can_deploy' }), { user: 'alice' }), { kind: 'deny', status: 503, reason: 'rebac_unavailable' });
  t.equal(fga.count('check'), 1, 'one request: no retry');
  t.equal(await metricValue(metrics, 'authz_rebac_upstream_errors_total', { op: 'check', kind: 'http_5xx' }), 1);
  t.match(await decide(stage({ checks: [{ relation: 'can_read' }, { relation: 'can_edit' }] }), { user: 'alice' }),
    { kind: 'deny', reason: 'rebac_unavailable' }, 'a failed BatchCheck denies too');
  t.equal(fga.count('batch-check'), 1);
});

t.test('a server that is down (connection refused) denies rebac_unavailable', async (t) => {
  const fga = await startFga(t);
  const { stage, metrics } = await buildRemote(t, fga);
  await fga.down();
  t.match(await decide(stage({ relation: 'can_deploy' }), { user: 'alice' }), { kind: 'deny', status: 503, reason: 'rebac_unavailable' });
  t.ok((await metricValue(metrics, 'authz_rebac_upstream_errors_total', { op: 'check' })) >= 1);
  t.match(await metrics.registry.metrics(), /authz_rebac_upstream_errors_total\{op="check",kind="(refused|network)"\} 1/);
});

t.test('the breaker opens after consecutive failures, refuses without calling, and probes back', async (t) => {
  const fga = await startFga(t);
  const { stage, metrics } = await buildRemote(t, fga, { breaker: { failure_threshold: 3, open_ms: 200 } });
  const s = stage({ relation: 'can_deploy' });
  fga.mode = 'fail500';
  for (let i = 0; i < 3; i++) t.match(await decide(s, { user: 'alice' }), { reason: 'rebac_unavailable' });
  t.equal(fga.count('check'), 3);
  t.match(await metrics.registry.metrics(), /authz_rebac_breaker_state 1/, 'open');

  t.match(thrown(() => s.evaluate(authzRequest(), ctxFor({ user: 'bob' }))), { reason: 'rebac_unavailable' },
    'refused synchronously (a throw the engine turns into the deny)...');
  t.match(await decide(s, { user: 'alice' }), { kind: 'deny', status: 503, reason: 'rebac_unavailable' });
  t.equal(fga.count('check'), 3, '...and without an upstream call');
  t.ok((await metricValue(metrics, 'authz_rebac_breaker_rejected_total')) >= 1);

  fga.mode = 'pass';
  // After open_ms one probe goes through; its success closes the breaker.
  await eventually(t, 'the breaker lets a probe through and closes', async () => (await decide(s, { user: 'alice' })).kind === 'allow');
  t.equal(fga.count('check'), 4, 'exactly one probe call');
  t.match(await metrics.registry.metrics(), /authz_rebac_breaker_state 0/, 'closed');
  t.match(await decide(s, { user: 'dave' }), { kind: 'deny', reason: 'rebac_denied' }, 'normal service');
});

t.test('a failed probe opens the breaker again', async (t) => {
  const fga = await startFga(t);
  const { stage, cap } = await buildRemote(t, fga, { breaker: { failure_threshold: 1, open_ms: 100 } });
  const s = stage({ relation: 'can_deploy' });
  fga.mode = 'fail500';
  await decide(s, { user: 'alice' });
  t.equal(fga.count('check'), 1);
  await eventually(t, 'a probe is let through', async () => {
    await decide(s, { user: 'alice' });
    return fga.count('check') === 2;
  });
  const breaker = (cap.checker as unknown as { breaker: { state: number } }).breaker;
  t.equal(breaker.state, 1, 'the probe failed: open again');
  await decide(s, { user: 'alice' });
  t.equal(fga.count('check'), 2, 'no call right after the failed probe');
});

t.test('an invalid check is rebac_bad_request and does not trip the breaker', async (t) => {
  const fga = await startFga(t);
  const { stage, metrics } = await buildRemote(t, fga, { breaker: { failure_threshold: 1, open_ms: 60_000 } });
  t.match(await decide(stage({ relation: 'no_such_relation' }), { user: 'alice' }), { kind: 'deny', status: 403, reason: 'rebac_bad_request' });
  t.match(await decide(stage({ relation: 'can_deploy' }), { user: 'alice' }), { kind: 'allow' }, 'the breaker is still closed');
  t.match(await decide(stage({ checks: [{ relation: 'can_read' }, { relation: 'nope', object: 'org::tenant' }] }), { user: 'alice' }),
    { kind: 'deny', reason: 'rebac_bad_request' }, 'an invalid item of a BatchCheck');
  t.match(await decide(stage({ relation: 'can_read' }), { user: 'alice', project: 'a#b' }), { kind: 'deny', reason: 'rebac_bad_request' },
    'a malformed object id is refused before any call');
  t.equal(await metricValue(metrics, 'authz_rebac_breaker_state'), 0);
});

t.test('start-up: a store that does not exist is a clear error', async (t) => {
  const fga = await startFga(t);
  await t.rejects(buildRemote(t, { ...fga, storeId: '01ARZ3NDEKTSV4RRFFQ69G5FAV' }), /cannot read the authorization model.*store/);
});
