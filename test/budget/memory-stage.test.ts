// The budget stage on the memory backend: limits, warnings, denials with
// Retry-After, costs from headers, classes, principals — all synchronous.
import t from 'tap';
import { bodyOf, build, decideSync, headersOf, TestClock } from './harness.js';

t.test('daily budget: remaining, 90% warning, 100% deny with Retry-After to UTC midnight, new day resets', async (t) => {
  const clock = new TestClock(Date.parse('2025-01-31T20:00:00Z'));
  const { stage, metrics } = build(t, { tenants: { acme: { daily: 10, monthly: 1000 } } }, { clock });
  const s = stage({ cost: 1 });
  for (let i = 1; i <= 8; i++) {
    const r = decideSync(t, s);
    t.equal(r.kind, 'allow');
    t.equal(headersOf(r)['x-budget-remaining-daily'], String(10 - i));
    t.notOk(headersOf(r)['x-budget-warning'], `no warning at ${i * 10}%`);
  }
  const ninth = decideSync(t, s);
  t.equal(ninth.kind, 'allow');
  t.equal(headersOf(ninth)['x-budget-warning'], 'daily 90%');
  t.match(ninth.ctx.annotations.budget, { tenant: 'acme', class: 'realtime', cost: 1, remaining: { daily: 1, monthly: 991 },
    warning: ['daily'], via: 'memory' });
  t.equal(headersOf(decideSync(t, s))['x-budget-warning'], 'daily 100%', 'the last unit is allowed');
  const denied = decideSync(t, s);
  t.match(denied, { kind: 'deny', status: 429, reason: 'budget_exhausted' });
  t.equal(headersOf(denied)['retry-after'], String(4 * 3600), 'four hours to midnight UTC');
  t.match(bodyOf(denied), { reason: 'budget_exhausted', budget: 'daily', tenant: 'acme', limit: 10, used: 10,
    retry_after_s: 14400, resets_at: '2025-02-01T00:00:00.000Z', decision_id: 'd-1' });
  t.match(denied.ctx.annotations.budget, { exhausted: 'daily', retry_after_s: 14400 });
  t.equal(decideSync(t, s).kind, 'deny', 'still denied: a denied request charges nothing but changes nothing');

  clock.set('2025-02-01T00:00:00.000Z');
  const fresh = decideSync(t, s);
  t.equal(fresh.kind, 'allow', 'a new UTC day');
  t.equal(headersOf(fresh)['x-budget-remaining-daily'], '9');
  t.equal(headersOf(fresh)['x-budget-remaining-monthly'], '999', 'the month starts over too (February)');

  const text = await metrics.registry.metrics();
  t.match(text, /authz_budget_charged_total\{tenant="acme",path="memory"\} 11/);
  t.match(text, /authz_budget_warnings_total\{tenant="acme",budget="daily"\} 2/);
  t.match(text, /authz_budget_exhausted_total\{tenant="acme",budget="daily",reason="budget_exhausted"\} 2/);
  t.match(await metrics.registry.metrics(), /authz_budget_charged_total\{tenant="acme",path="memory"\} 11\n/, 'read again: not counted twice');
});

t.test('monthly budget across the month boundary; the budget that resets last is named', async (t) => {
  const clock = new TestClock(Date.parse('2025-04-30T23:00:00Z'));
  const { stage } = build(t, { tenants: { acme: { daily: 5, monthly: 5 } } }, { clock });
  const s = stage({ cost: 2.5 });
  t.equal(decideSync(t, s).kind, 'allow');
  t.equal(decideSync(t, s).kind, 'allow');
  const denied = decideSync(t, s);
  t.match(denied, { kind: 'deny', reason: 'budget_exhausted' });
  t.equal(bodyOf(denied).budget, 'daily', 'on 30 April day and month end together: the first refusing budget is named');
  t.equal(headersOf(denied)['retry-after'], '3600');
  clock.set('2025-05-01T00:00:00Z');
  t.equal(decideSync(t, s).kind, 'allow', 'May');

  const mid = new TestClock(Date.parse('2025-05-10T12:00:00Z'));
  const b = build(t, { tenants: { acme: { daily: 3, monthly: 3 } } }, { clock: mid });
  const s2 = b.stage({ cost: 1 });
  for (let i = 0; i < 3; i++) decideSync(t, s2);
  const refused = decideSync(t, s2);
  t.equal(bodyOf(refused).budget, 'monthly', 'daily and monthly both refuse: retrying tomorrow would not help');
  t.equal(headersOf(refused)['retry-after'], String(21 * 86400 + 12 * 3600), 'to 1 June 00:00 UTC');
});

t.test('rate limits: rps and rpm deny rate_limited with Retry-After to the next second / minute', async (t) => {
  const clock = new TestClock(Date.parse('2025-01-15T12:00:10.300Z'));
  const { stage } = build(t, { tenants: { acme: { rps: 2, rpm: 3 } } }, { clock });
  const s = stage();
  t.equal(decideSync(t, s).kind, 'allow');
  t.equal(headersOf(decideSync(t, s))['x-budget-remaining-rps'], '0');
  const fast = decideSync(t, s);
  t.match(fast, { kind: 'deny', status: 429, reason: 'rate_limited' });
  t.equal(headersOf(fast)['retry-after'], '1');
  t.equal(bodyOf(fast).budget, 'rps');
  clock.advance(1000);
  t.equal(decideSync(t, s).kind, 'allow', 'next second');
  clock.advance(1000);
  const minute = decideSync(t, s);
  t.match(minute, { kind: 'deny', reason: 'rate_limited' });
  t.equal(bodyOf(minute).budget, 'rpm');
  t.equal(headersOf(minute)['retry-after'], '48', '12:00:12.3 → 12:01:00');
  clock.set('2025-01-15T12:01:00Z');
  t.equal(decideSync(t, s).kind, 'allow');
});

t.test('cost from a request header; garbage is denied bad_cost and never charged', async (t) => {
  const { stage } = build(t, { tenants: { acme: { daily: 1 } } });
  const s = stage({ cost_header: 'X-Estimated-Cost' });
  const r = decideSync(t, s, { headers: { 'x-estimated-cost': '0.25' } });
  t.equal(headersOf(r)['x-budget-remaining-daily'], '0.75');
  t.match(r.ctx.annotations.budget, { cost: 0.25 });
  for (const bad of ['-1', 'NaN', 'abc', '1e3', '', '1,2', 'Infinity', '-0']) {
    const d = decideSync(t, s, { headers: { 'x-estimated-cost': bad } });
    t.match(d, { kind: 'deny', status: 403, reason: 'bad_cost' }, JSON.stringify(bad));
  }
  t.match(decideSync(t, s), { kind: 'deny', reason: 'bad_cost' }, 'header required when the route has no fixed cost');
  const ok = decideSync(t, s, { headers: { 'x-estimated-cost': '0.75' } });
  t.equal(headersOf(ok)['x-budget-remaining-daily'], '0', 'bad costs charged nothing');
  t.match(decideSync(t, s, { headers: { 'x-estimated-cost': '0.000001' } }), { kind: 'deny', reason: 'budget_exhausted' });
  t.equal(decideSync(t, s, { headers: { 'x-estimated-cost': '0' } }).kind, 'allow', 'a free request passes a spent budget');

  const b2 = build(t, { tenants: { acme: { daily: 1 } } });
  const s2 = b2.stage({ cost_header: 'x-cost', cost: 0.5 });
  t.equal(headersOf(decideSync(t, s2))['x-budget-remaining-daily'], '0.5', 'the fixed cost applies when the header is absent');
});

t.test('fractional costs add up exactly', async (t) => {
  const { stage } = build(t, { tenants: { acme: { daily: 1 } } });
  const s = stage({ cost: 0.1 });
  for (let i = 0; i < 10; i++) t.equal(decideSync(t, s).kind, 'allow', `charge ${i + 1} of 0.1`);
  t.equal(decideSync(t, s).kind, 'deny');
});

t.test('route classes: own limits per class on top of the tenant limits; class passed upstream', async (t) => {
  const { stage } = build(t, { tenants: { acme: { daily: 100, classes: { bulk: { daily: 2 }, realtime: { rpm: 100 } } } } });
  const bulk = stage({ class: 'bulk', cost: 1 });
  const realtime = stage({ class: 'realtime', cost: 1 });
  const b = decideSync(t, bulk);
  t.equal(headersOf(b)['x-budget-class'], 'bulk');
  t.equal(headersOf(b)['x-budget-remaining-bulk-daily'], '1');
  t.equal(headersOf(b)['x-budget-remaining-daily'], '99');
  t.notOk(headersOf(b)['x-budget-remaining-realtime-rpm'], 'the other class is not charged');
  decideSync(t, bulk);
  const d = decideSync(t, bulk);
  t.match(d, { kind: 'deny', reason: 'budget_exhausted' });
  t.equal(bodyOf(d).budget, 'bulk.daily');
  t.equal(headersOf(d)['x-budget-class'], 'bulk');
  const rt = decideSync(t, realtime);
  t.equal(rt.kind, 'allow', 'realtime still has budget');
  t.equal(headersOf(rt)['x-budget-class'], 'realtime');
  t.equal(headersOf(rt)['x-budget-remaining-daily'], '97');
  t.equal(headersOf(rt)['x-budget-remaining-realtime-rpm'], '99');
});

t.test('per-principal limits apply to each principal, inside the tenant limit', async (t) => {
  const { stage } = build(t, { tenants: { acme: { daily: 3, per_principal: { daily: 2 } } } });
  const s = stage({ cost: 1 });
  t.equal(decideSync(t, s, { user: 'alice' }).kind, 'allow');
  t.equal(headersOf(decideSync(t, s, { user: 'alice' }))['x-budget-remaining-principal-daily'], '0');
  t.match(bodyOf(decideSync(t, s, { user: 'alice' })), { budget: 'principal.daily' });
  t.equal(decideSync(t, s, { user: 'bob' }).kind, 'allow', 'bob has his own allowance');
  t.match(bodyOf(decideSync(t, s, { user: 'bob' })), { budget: 'daily' }, 'but the tenant has spent its 3');
  const off = build(t, { tenants: { acme: { daily: 10, per_principal: { daily: 1 } } } }).stage({ per_principal: false });
  decideSync(t, off);
  t.equal(decideSync(t, off).kind, 'allow', 'a route can opt out of per-principal limits');
});

t.test('tenants: configured, defaults, unknown, none', async (t) => {
  const { stage } = build(t, { defaults: { daily: 1, rps: 100 }, tenants: { acme: { daily: 5 } } });
  const s = stage({ cost: 1 });
  const acme = decideSync(t, s, { tenant: 'acme' });
  t.equal(headersOf(acme)['x-budget-remaining-daily'], '4', 'own daily overrides the default');
  t.equal(headersOf(acme)['x-budget-remaining-rps'], '99', 'defaults fill what the tenant does not set');
  t.equal(decideSync(t, s, { tenant: 'globex' }).kind, 'allow', 'unlisted tenant gets the defaults');
  t.equal(decideSync(t, s, { tenant: 'globex' }).kind, 'deny');
  t.match(decideSync(t, s, { tenant: undefined }), { kind: 'deny', status: 403, reason: 'budget_no_tenant' });

  const strict = build(t, { tenants: { acme: { daily: 5 } } }).stage();
  t.match(decideSync(t, strict, { tenant: 'globex' }), { kind: 'deny', status: 403, reason: 'budget_unknown_tenant' },
    'without defaults an unknown tenant is refused (fail closed)');
  const unlimited = build(t, { tenants: { acme: {} } }).stage({ class: 'bulk' });
  t.match(decideSync(t, unlimited), { kind: 'allow', headers: { 'x-budget-class': 'bulk' } }, 'no limits: allowed, class still passed');
});

t.test('a limit of 0 admits nothing; a default route costs one unit', async (t) => {
  const { stage } = build(t, { tenants: { acme: { daily: 2, rpm: 0 } } });
  t.match(decideSync(t, stage()), { kind: 'deny', reason: 'rate_limited' });
  const b = build(t, { tenants: { acme: { daily: 2 } } });
  t.equal(headersOf(decideSync(t, b.stage()))['x-budget-remaining-daily'], '1');
});

t.test('the client sees the budget headers only with client_headers: true; the upstream always does', async (t) => {
  const section = { tenants: { acme: { daily: 10, rps: 100 } }, warn_at: 0.1 };
  const quiet = decideSync(t, build(t, section).stage());
  t.match(quiet, { kind: 'allow', headers: { 'x-budget-class': 'realtime', 'x-budget-remaining-daily': '9', 'x-budget-warning': 'daily 10%' } },
    'the upstream gets class, remaining and warning');
  t.equal(quiet.kind === 'allow' ? quiet.responseHeaders : 'not allowed', undefined, 'by default nothing is added to the client\'s response');
  const told = decideSync(t, build(t, { ...section, client_headers: true }).stage());
  t.same(told.kind === 'allow' ? told.responseHeaders : undefined, headersOf(told), 'client_headers: true — the client gets the same headers');
  t.throws(() => build(t, { ...section, client_headers: 'yes' }), /budget\.client_headers/, 'a non-boolean is refused with its path');
});
