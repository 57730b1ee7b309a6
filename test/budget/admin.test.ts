// The budget admin API on the real admin server: bearer token, usage, limits, reset.
import t, { type Test } from 'tap';
import { startAdminServer } from '../../src/transport/admin/server.js';
import { createLogger } from '../../src/observability/logger.js';
import { build, decideSync, headersOf, type Built } from './harness.js';

const TOKEN = 'budget-admin-token-0123456789';

async function serve(t: Test, b: Built): Promise<(method: string, path: string, opts?: { token?: string; body?: string }) => Promise<{ status: number; body: Record<string, unknown> }>> {
  const server = await startAdminServer({
    host: '127.0.0.1', port: 0, metrics: b.metrics, log: createLogger('silent'), isReady: () => true, readiness: () => ({}),
    handlers: [b.cap.adminHandler],
  });
  t.teardown(() => server.close());
  return async (method, path, opts = {}) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
    const res = await fetch(`http://127.0.0.1:${server.port}${path}`, { method, headers, body: opts.body });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
}

t.test('without the token: 401; with it: usage, limits, reset', async (t) => {
  const b = build(t, { admin: { token: TOKEN }, tenants: { acme: { daily: 10, classes: { bulk: { rpm: 5 } } } } });
  const call = await serve(t, b);
  const s = b.stage({ cost: 2 });
  decideSync(t, s);

  t.equal((await call('GET', '/budget/tenants/acme')).status, 401);
  t.equal((await call('GET', '/budget/tenants/acme', { token: 'wrong-token-wrong-token' })).status, 401);
  t.equal((await call('GET', '/healthz')).status, 200, 'other admin paths are not the budget API’s');

  const usage = await call('GET', '/budget/tenants/acme', { token: TOKEN });
  t.equal(usage.status, 200);
  t.match(usage.body, {
    tenant: 'acme', configured: true, backend: 'memory', limits: { daily: 10 },
    budgets: { daily: { limit: 10, used: 2, remaining: 8, resets_at: '2025-01-16T00:00:00.000Z' }, 'bulk.rpm': { limit: 5, used: 0 } },
  });

  const bad = await call('PUT', '/budget/tenants/acme/limits', { token: TOKEN, body: JSON.stringify({ daily: -5 }) });
  t.equal(bad.status, 400);
  t.match(bad.body.error, /limits\.daily: must not be negative/);
  t.equal((await call('PUT', '/budget/tenants/acme/limits', { token: TOKEN, body: '{not json' })).status, 400);
  t.match((await call('PUT', '/budget/tenants/acme/limits', { token: TOKEN, body: '{"daily": 5, "monthly": 1}' })).body.error,
    /daily/);

  const set = await call('PUT', '/budget/tenants/acme/limits', { token: TOKEN, body: JSON.stringify({ daily: 3 }) });
  t.equal(set.status, 200);
  t.same(set.body.limits, { daily: 3 });
  t.match(decideSync(t, s), { kind: 'deny', reason: 'budget_exhausted' }, 'the new limit applies at once: 2 + 2 > 3');

  const reset = await call('POST', '/budget/tenants/acme/reset', { token: TOKEN });
  t.same(reset, { status: 200, body: { tenant: 'acme', reset: true } });
  t.equal(headersOf(decideSync(t, s))['x-budget-remaining-daily'], '1', 'counters start over');

  t.equal((await call('PUT', '/budget/tenants/globex/limits', { token: TOKEN, body: '{"daily": 1}' })).status, 200,
    'limits for a new tenant');
  t.match((await call('GET', '/budget/tenants/globex', { token: TOKEN })).body, { configured: true, budgets: { daily: { limit: 1 } } });
  t.equal((await call('GET', '/budget/tenants/initech', { token: TOKEN })).status, 404, 'unknown tenant');
  t.equal((await call('DELETE', '/budget/tenants/acme', { token: TOKEN })).status, 405);
  t.equal((await call('GET', '/budget/nothing', { token: TOKEN })).status, 404);
});

t.test('per-principal usage on request; token from an environment variable; no token → API disabled', async (t) => {
  const b = build(t, { admin: { token_env: 'BUDGET_TOKEN' }, tenants: { acme: { per_principal: { daily: 4 } } } },
    { env: { BUDGET_TOKEN: TOKEN } });
  const call = await serve(t, b);
  decideSync(t, b.stage({ cost: 1 }), { user: 'alice' });
  const all = await call('GET', '/budget/tenants/acme', { token: TOKEN });
  t.same(all.body.budgets, {}, 'principal budgets are listed only for a named principal');
  const alice = await call('GET', '/budget/tenants/acme?principal=alice', { token: TOKEN });
  t.match(alice.body, { principal: 'alice', budgets: { 'principal.daily': { used: 1, remaining: 3 } } });

  const off = build(t, { tenants: { acme: { daily: 1 } } });
  const callOff = await serve(t, off);
  const r = await callOff('GET', '/budget/tenants/acme', { token: TOKEN });
  t.equal(r.status, 403);
  t.match(r.body.error, /disabled/);
});
