// "An invalid config is refused and the last good config keeps serving"
// (docs/configuration.md): all of it, not the parts applied before the part
// that failed. A config that changes a capability's section (the budget's
// limits) and also names a stage that does not exist must leave the budget as
// it was, not half-reloaded.
import t from 'tap';
import { request } from 'undici';
import { PROJECT_ROUTES, startTestSidecar } from '../support/sidecar.js';

const BUDGET_ROUTE = { name: 'metered', match: { method: 'GET', path: '/api/v1/tenants/:tenant/metered/:id' }, action: 'read',
  resource: { type: 'project', id: ':id', tenant: ':tenant' }, stages: ['tenant', 'rbac', { budget: { cost: 1 } }] };

t.test('a refused reload changes nothing, not even the sections before the one that failed', async (t) => {
  const s = await startTestSidecar(t, { routes: [...PROJECT_ROUTES, BUDGET_ROUTE], budget: { backend: 'memory', tenants: { acme: { daily: 100 } } } });
  const auth = { authorization: `Bearer ${await s.token()}` };
  const remaining = async () => {
    const res = await request(s.url('http', '/api/v1/tenants/acme/metered/m1'), { headers: auth });
    await res.body.dump();
    return { status: res.statusCode, daily: res.headers['x-budget-remaining-daily'] };
  };
  const failures = async () => {
    const text = await (await request(s.url('admin', '/metrics'))).body.text();
    return Number(/authz_config_reloads_total\{outcome="failure"\} (\d+)/.exec(text)?.[1] ?? 0);
  };
  t.same(await remaining(), { status: 200, daily: '99' });

  s.writeConfig({
    ...s.baseConfig,
    budget: { backend: 'memory', tenants: { acme: { daily: 1 } } },
    routes: [...PROJECT_ROUTES, BUDGET_ROUTE, { name: 'bad', match: { path: '/x' }, action: 'read', resource: { type: 't' }, stages: ['no-such-stage'] }],
  });
  const until = Date.now() + 15_000;
  while ((await failures()) < 1 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  t.equal(await failures(), 1, 'the reload was read and refused');
  t.same(await remaining(), { status: 200, daily: '98' }, 'the budget limit is still 100, not the refused 1');
  t.same(await remaining(), { status: 200, daily: '97' }, 'and keeps counting against it');
});
