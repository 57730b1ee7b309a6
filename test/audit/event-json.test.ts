// The event text the decision thread appends is written as one template
// (src/audit/event.ts eventJson); readers, `audit verify`, Kafka consumers
// and the PostgreSQL wall expect exactly what stringifying the documented v1
// object gives. These cases hold the template to that, byte for byte,
// including the strings that need escaping and the budget keys JSON orders
// or drops on its own.
import t from 'tap';
import { captureEvent, eventJson, toWireEvent } from '../../src/audit/event.js';
import type { AuthzRequest, Decision } from '../../src/decision/types.js';
import { decision, request } from './fixtures/helpers.js';

const AT = Date.parse('2026-12-01T20:50:10.569Z');

function reference(d: Decision, r: AuthzRequest): string {
  return JSON.stringify(toWireEvent({ ...captureEvent(d, r), at: AT }));
}

const awkward = 'quote " backslash \\ newline \n tab \t nul \u0000 bell \u0007 del \u007f é 日本 😀 lone \ud800 end \udfff';

const cases: Array<[string, Decision, AuthzRequest]> = [
  ['a plain allow', decision({ id: 'd-1' }), request()],
  ['a deny with a would-deny in dry-run', decision({ id: 'd-2', allowed: true, mode: 'dryrun',
    wouldDeny: { status: 403, reason: 'rbac_denied', stage: 'rbac' } }), request()],
  ['a 503 error', decision({ id: 'd-3', allowed: false, status: 503, reason: 'policy_error', stage: 'policy' }), request()],
  ['strings that need escaping in every outside field', {
    ...decision({ id: `id ${awkward}`, reason: `r ${awkward}`, stage: `s ${awkward}`, action: awkward,
      annotations: { policy_revision: awkward, fga_model_id: awkward } }),
    principal: { id: awkward, kind: 'user', tenant: awkward, roles: [], claims: {}, source: 'jwt' },
    resource: { type: awkward, id: awkward, tenant: awkward },
    route: awkward,
  }, request({ method: awkward, path: `/p/${awkward}`, requestId: awkward,
    source: { address: awkward, port: 1, principal: undefined, labels: {} } })],
  ['fields past their bounds', {
    ...decision({ id: 'x'.repeat(300), reason: 'r'.repeat(300), annotations: { policy_revision: 'v'.repeat(300) } }),
    principal: { id: 'p'.repeat(600), kind: 'workload', tenant: 't'.repeat(300), roles: [], claims: {}, source: 'spiffe' },
  }, request({ path: '/'.repeat(3000), requestId: 'q'.repeat(300) })],
  ['a bound that cuts a surrogate pair in half', decision({ id: `${'a'.repeat(255)}😀` }), request()],
  ['an anonymous principal, no resource, no route, no trace', {
    ...decision({ id: 'd-anon' }),
    principal: { id: 'anonymous', kind: 'anonymous', tenant: 'acme', roles: [], claims: {}, source: 'anonymous' },
    resource: undefined, route: undefined, action: undefined,
  } as unknown as Decision, request({ headers: {}, source: { address: undefined, port: undefined, principal: undefined, labels: {} } })],
  ['no principal (identity failed), numeric annotations, NaN latency', {
    ...decision({ id: 'd-noid', annotations: { policy_revision: 42, fga_model_id: { not: 'a string' } } }),
    principal: undefined, durationSeconds: Number.NaN,
  } as unknown as Decision, request({ headers: { traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01' } })],
  ['budget figures as the budget stage writes them', decision({ id: 'd-b', annotations: { budget: {
    tenant: 'acme', class: 'realtime', cost: 0.001, remaining: { rps: 999999, daily: 999999.999 }, via: 'memory', exhausted: false,
  } } }), request()],
  ['budget keys JSON orders, drops, bounds or leaves out', decision({ id: 'd-b2', annotations: { budget: {
    z: 1, 10: 'ten', 2: true, ['k'.repeat(70)]: 'long', ['k'.repeat(71)]: 'merged', nested: { 3: 1, a: Number.POSITIVE_INFINITY, deep: { x: 1 } },
    fn: () => 1, list: [1, 2], nothing: null, empty: {}, [`é"${awkward}`]: awkward,
  } } }), request()],
  ['a __proto__ budget key and more keys than the bound', decision({ id: 'd-b3', annotations: { budget: {
    ...JSON.parse('{"__proto__": {"polluted": 1}, "a": 1}') as object,
    ...Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i])),
  } } }), request()],
  ['budget that is not an object', decision({ id: 'd-b4', annotations: { budget: [1, 2] } }), request()],
  ['controls from the route and the policy', { ...decision({ id: 'd-c', annotations: { controls: ['SOC2:CC6.1', 'HIPAA:164.312(a)'] } }),
    controls: ['SOC2:CC6.1', 'PCI:7.2'] } as unknown as Decision, request()],
];

for (const [name, d, r] of cases) {
  t.test(`the template writes what stringifying the v1 object writes: ${name}`, async (t) => {
    const text = eventJson(d, r, AT);
    t.equal(text, reference(d, r));
    t.doesNotThrow(() => JSON.parse(text), 'valid JSON');
  });
}

t.test('the timestamp is the decision time, also when several decisions share a millisecond', async (t) => {
  const first = JSON.parse(eventJson(decision({ id: 'a' }), request(), AT)) as { timestamp: string };
  const same = JSON.parse(eventJson(decision({ id: 'b' }), request(), AT)) as { timestamp: string };
  const later = JSON.parse(eventJson(decision({ id: 'c' }), request(), AT + 1001)) as { timestamp: string };
  t.equal(first.timestamp, '2026-12-01T20:50:10.569Z');
  t.equal(same.timestamp, first.timestamp);
  t.equal(later.timestamp, '2026-12-01T20:50:11.570Z');
});

t.test('each field is its own decision\'s, whatever the decisions before it held', async (t) => {
  // The template reuses a field's text while the field repeats: a decision
  // must never carry the previous one's tenant, principal, path or reason.
  const order = [...cases.keys(), ...[...cases.keys()].reverse(), 0, 0, 3, 3, 4, 0];
  for (const i of order) {
    const [name, d, r] = cases[i] as [string, Decision, AuthzRequest];
    t.equal(eventJson(d, r, AT), reference(d, r), name);
  }
  const base = decision({ id: 'd-x' });
  const other = { ...base, reason: 'rbac_denied', allowed: false, status: 403, route: 'other-route',
    principal: { ...base.principal, id: 'bob', tenant: 'globex' }, resource: { type: 'doc', id: 'd-9', tenant: 'globex' } } as Decision;
  for (const d of [base, other, base, { ...other, principal: { ...other.principal, id: `${'b'}ob` } } as Decision]) {
    t.equal(eventJson(d, request({ path: `/api/${d.resource?.id ?? ''}` }), AT), reference(d, request({ path: `/api/${d.resource?.id ?? ''}` })));
  }
});

t.test('a decision that differs from the one before in a single field carries its own value', async (t) => {
  const base = decision({ id: 'd-base' });
  const req = request();
  const variants: Array<[string, Decision, AuthzRequest]> = [
    ['tenant', { ...base, resource: { ...base.resource, tenant: 'globex' } } as Decision, req],
    ['principal id', { ...base, principal: { ...base.principal, id: 'bob' } } as Decision, req],
    ['principal kind', { ...base, principal: { ...base.principal, kind: 'workload' } } as Decision, req],
    ['principal tenant', { ...base, principal: { ...base.principal, tenant: 'initech' } } as Decision, req],
    ['anonymous principal', { ...base, principal: { ...base.principal, kind: 'anonymous' } } as Decision, req],
    ['action', { ...base, action: 'write' } as Decision, req],
    ['resource type', { ...base, resource: { ...base.resource, type: 'doc' } } as Decision, req],
    ['resource id', { ...base, resource: { ...base.resource, id: 'p-43' } } as Decision, req],
    ['allowed', { ...base, allowed: false } as Decision, req],
    ['status', { ...base, allowed: false, status: 503 } as Decision, req],
    ['reason', { ...base, reason: 'rbac_denied' } as Decision, req],
    ['stage', { ...base, stage: 'rbac' } as Decision, req],
    ['mode', { ...base, mode: 'dryrun' } as Decision, req],
    ['would-deny', { ...base, wouldDeny: { status: 403, reason: 'rbac_denied', stage: 'rbac' } } as Decision, req],
    ['would-deny status', { ...base, wouldDeny: { status: 401, reason: 'rbac_denied', stage: 'rbac' } } as Decision, req],
    ['route', { ...base, route: 'other' } as Decision, req],
    ['method', base, request({ method: 'POST' })],
    ['path', base, request({ path: '/api/v1/other' })],
    ['transport', base, { ...req, transport: 'http' } as AuthzRequest],
    ['policy revision', { ...base, annotations: { ...base.annotations, policy_revision: 'r-2' } } as Decision, req],
    ['model id', { ...base, annotations: { ...base.annotations, fga_model_id: 'm-2' } } as Decision, req],
    ['client address', base, request({ source: { address: '10.9.9.9', port: 1, principal: undefined, labels: {} } })],
  ];
  for (const [field, d, r] of variants) {
    t.equal(eventJson(base, req, AT), reference(base, req), `before ${field}`);
    t.equal(eventJson(d, r, AT), reference(d, r), field);
    t.equal(eventJson(d, r, AT), reference(d, r), `${field} again`);
  }
});

t.test('a verified principal (one frozen object per token) keeps its own text per tenant, and others theirs', async (t) => {
  const base = decision({ id: 'd-f' });
  const alice = Object.freeze({ ...base.principal!, id: 'alice', tenant: 'acme' });
  const bob = Object.freeze({ ...base.principal!, id: 'bob', tenant: 'globex' });
  const anon = Object.freeze({ ...base.principal!, id: 'anonymous', kind: 'anonymous' as const, tenant: 'acme' });
  const req = request();
  const order: Array<[string, Decision]> = [
    ['alice', { ...base, principal: alice } as Decision],
    ['bob', { ...base, principal: bob, resource: { ...base.resource!, tenant: 'globex' } } as Decision],
    ['alice again', { ...base, principal: alice } as Decision],
    ['alice on another tenant\'s resource', { ...base, principal: alice, resource: { ...base.resource!, tenant: 'globex' } } as Decision],
    ['alice with no resource', { ...base, principal: alice, resource: undefined } as unknown as Decision],
    ['anonymous', { ...base, principal: anon } as Decision],
    ['alice once more', { ...base, principal: alice } as Decision],
  ];
  for (const [name, d] of order) t.equal(eventJson(d, req, AT), reference(d, req), name);
});
