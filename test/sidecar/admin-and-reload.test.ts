import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { startTestSidecar, PROJECT_ROUTES } from '../support/sidecar.js';

t.test('admin: healthz, readyz, metrics', async (t) => {
  const s = await startTestSidecar(t);
  const health = await request(s.url('admin', '/healthz'));
  t.equal(health.statusCode, 200);
  await health.body.dump();
  const ready = await request(s.url('admin', '/readyz'));
  t.equal(ready.statusCode, 200);
  t.match(await ready.body.json(), { status: 'ready', checks: { identity: true } });
  const token = await s.token();
  await (await request(s.url('http', '/api/v1/tenants/acme/projects/web'), { headers: { authorization: `Bearer ${token}` } })).body.dump();
  await (await request(s.url('http', '/api/v1/tenants/acme/projects/web'))).body.dump();
  const metrics = await request(s.url('admin', '/metrics'));
  t.match(metrics.headers['content-type'], /text\/plain/);
  const text = await metrics.body.text();
  t.match(text, /authz_decisions_total\{result="allow",reason="allowed",stage="engine"\} 1/);
  t.match(text, /authz_identity_failures_total\{reason="no_identity"\} 1/);
  // Both decisions observed (how long they took is the bench's business, not a test's).
  t.match(text, /authz_decision_duration_seconds_count\{transport="http"\} 2/);
  t.match(text, /process_cpu_user_seconds_total/);
  const missing = await request(s.url('admin', '/nope'));
  t.equal(missing.statusCode, 404);
  await missing.body.dump();
});

async function waitFor(cond: () => Promise<boolean>, ms = 15_000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await cond()) return true;
    await sleep(50);
  }
  return false;
}

t.test('hot reload applies a valid change and refuses an invalid one', async (t) => {
  const s = await startTestSidecar(t);
  const token = await s.token();
  const get = async (path: string) => {
    const res = await request(s.url('http', path), { headers: { authorization: `Bearer ${token}` } });
    await res.body.dump();
    return res.statusCode;
  };
  t.equal(await get('/api/v1/tenants/acme/reports/r1'), 403, 'no route yet');
  s.writeConfig({
    ...s.baseConfig,
    routes: [...PROJECT_ROUTES, { name: 'reports', match: { method: 'GET', path: '/api/v1/tenants/:tenant/reports/:id' },
      action: 'read', resource: { type: 'report', id: ':id', tenant: ':tenant' }, stages: ['tenant', 'rbac'] }],
  });
  t.ok(await waitFor(async () => (await get('/api/v1/tenants/acme/reports/r1')) === 200), 'new route applied without restart');

  s.writeConfig({ ...s.baseConfig, deadline_ms: -5, routes: [] });
  const refused = await waitFor(async () => {
    const text = await (await request(s.url('admin', '/metrics'))).body.text();
    return /authz_config_reloads_total\{outcome="failure"\} [1-9]/.test(text);
  });
  t.ok(refused, 'the invalid config was refused and counted');
  t.equal(await get('/api/v1/tenants/acme/reports/r1'), 200, 'last good config keeps serving');

  s.writeConfig({ ...s.baseConfig, routes: [{ match: { path: '/x' }, action: 'read', resource: { type: 't' }, stages: ['no-such-stage'] }] });
  const refusedAgain = await waitFor(async () => {
    const text = await (await request(s.url('admin', '/metrics'))).body.text();
    return /authz_config_reloads_total\{outcome="failure"\} 2/.test(text);
  });
  t.ok(refusedAgain, 'the unknown-stage config was read and refused (a second failure counted)');
  t.equal(await get('/api/v1/tenants/acme/reports/r1'), 200, 'a config naming an unknown stage is refused too');
});
