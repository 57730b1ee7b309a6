// The result contract: what a policy may answer and what the stage makes of it.
import t from 'tap';
import { BadPolicyResult, interpretDecision, interpretResultSet, sanitizeReason } from '../../src/policy/result.js';

t.test('booleans', async (t) => {
  t.same(interpretDecision(true).result, { kind: 'allow' });
  t.same(interpretDecision(false).result, { kind: 'deny', status: 403, reason: 'policy_denied' });
});

t.test('an allowing object carries upstream headers and response headers', async (t) => {
  const v = interpretDecision({
    allowed: true,
    headers: { 'X-User-Tier': 'gold', 'x-list': ['a', 'b'] },
    response_headers_to_add: { 'x-served-by': 'policy' },
  });
  t.same(v.result, { kind: 'allow', headers: { 'x-user-tier': 'gold', 'x-list': 'a, b' } });
  t.same(v.responseHeaders, { 'x-served-by': 'policy' });
});

t.test('a denying object: status, reason, headers and body', async (t) => {
  const v = interpretDecision({ allowed: false, reason: 'Region not allowed', http_status: 429, headers: { 'retry-after': '3' }, body: 'no' });
  t.same(v.result, { kind: 'deny', status: 429, reason: 'region_not_allowed', headers: { 'retry-after': '3' }, body: 'no' });
  t.same(interpretDecision({ allowed: false }).result, { kind: 'deny', status: 403, reason: 'policy_denied' });
});

t.test('http_status maps onto 401/403/429/503; anything else is 403', async (t) => {
  for (const [given, want] of [[401, 401], [403, 403], [429, 429], [503, 503], [400, 403], [404, 403], [418, 403], [500, 403], [302, 403]]) {
    const r = interpretDecision({ allowed: false, http_status: given }).result;
    t.equal(r.kind === 'deny' && r.status, want, `${given} → ${want}`);
  }
  t.throws(() => interpretDecision({ allowed: false, http_status: '403' }), BadPolicyResult);
});

t.test('reasons are folded to snake_case reason codes', async (t) => {
  t.equal(sanitizeReason('Not Readable!'), 'not_readable');
  t.equal(sanitizeReason('tenant_mismatch'), 'tenant_mismatch');
  t.equal(sanitizeReason('  Data--Residency :: EU  '), 'data_residency_eu');
  t.equal(sanitizeReason('!!!'), 'policy_denied');
  t.equal(sanitizeReason(''), 'policy_denied');
  t.equal(sanitizeReason(42), 'policy_denied');
  t.equal(sanitizeReason('x'.repeat(200)).length, 64);
});

t.test('anything that is not a decision is refused (the stage denies policy_error)', async (t) => {
  const bad: unknown[] = [
    'allow', 1, null, [], [true], {}, { allowed: 'yes' }, { allowed: true, headers: 'x' },
    { allowed: true, headers: { 'bad name': 'v' } }, { allowed: true, headers: { x: 'a\r\nset-cookie: evil' } },
    { allowed: true, headers: { x: 1 } }, { allowed: false, body: { json: true } },
  ];
  for (const b of bad) t.throws(() => interpretDecision(b), BadPolicyResult, JSON.stringify(b));
});

t.test('result sets: one result, or undefined', async (t) => {
  t.same(interpretResultSet([{ result: true }]).result, { kind: 'allow' });
  t.throws(() => interpretResultSet([]), /undefined/);
  t.throws(() => interpretResultSet([{ result: true }, { result: false }]), BadPolicyResult);
  t.throws(() => interpretResultSet([{ x: 1 }]), BadPolicyResult);
  t.throws(() => interpretResultSet({ result: true }), BadPolicyResult);
});
