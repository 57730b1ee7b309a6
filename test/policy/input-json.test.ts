// The policy input as JSON text (what the policy stage hands the module): the same
// document buildPolicyInput describes, whatever the strings hold, and a
// route's header allow-list leaving the other headers out — through the
// real opa-wasm and the stand-in module, which echoes the input it receives.
import t from 'tap';
import { PolicyEvaluator, utf8Buffer } from '../../src/policy/evaluator.js';
import { buildPolicyInput } from '../../src/policy/input.js';
import { policyInputJson } from '../../src/policy/input-json.js';
import { authzRequest, principal } from '../support/principals.js';
import { STANDIN_ENTRYPOINTS as EP, bundleTarball, capabilityUnderTest, decisionContext, policyStage, standinWasm, tempDir } from './helpers.js';

// `now` is the current second: the two forms may straddle a second boundary, so it is compared by form only.
const NOW = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
function withoutNow(doc: { now?: unknown }): unknown {
  if (typeof doc.now !== 'string' || !NOW.test(doc.now)) throw new Error(`input.now is not RFC 3339 to the second: ${String(doc.now)}`);
  const { now: _now, ...rest } = doc;
  return rest;
}
const viaObject = (req: ReturnType<typeof authzRequest>, ctx: ReturnType<typeof decisionContext>): unknown =>
  withoutNow(JSON.parse(JSON.stringify(buildPolicyInput(req, ctx))) as { now?: unknown });
const viaText = (text: string): unknown => withoutNow(JSON.parse(text) as { now?: unknown });

t.test('the text parses to the same document as the object form', async (t) => {
  const awkward = 'quote " backslash \\ newline \n tab \t nul \u0000 euro € emoji 😀 lone \ud800 sep \u2028';
  const req = authzRequest({
    method: 'POST',
    path: '/api/v1/tenants/acme/projects/p%201/%E2%82%AC/%zz',
    query: { region: 'eu-west-1', 'we ird': 'a,b&c' },
    headers: { 'x-region': 'eu-west-1', 'x-awkward': awkward, authorization: `Bearer ${'e'.repeat(900)}` },
    source: { address: '10.0.0.1', port: 51000, principal: 'spiffe://cluster/ns/web/sa/web', labels: Object.freeze({ app: 'web' }) },
    destination: { address: undefined, port: undefined, principal: undefined, labels: { zone: awkward } },
    contextExtensions: { cluster: 'c1', [awkward]: awkward },
    filterMetadata: { 'envoy.filters.http.jwt_authn': { sub: 'alice', n: 1.5, ok: true, list: [1, 'x', null] } },
  });
  const ctx = decisionContext('deploy');
  Object.assign(ctx, { principal: principal({ tenant: undefined, claims: Object.freeze({ sub: 'alice', nested: { a: [1, 2] }, s: awkward }) }) });
  ctx.annotations.budget = { tenant: 'acme', cost: 0.05, remaining: { daily: 12.5 } };
  t.same(viaText(policyInputJson(req, ctx)), viaObject(req, ctx), 'awkward strings, frozen claims, budget, no tenant');
  // Twice: the claims' JSON is kept per frozen object, and must not go stale or leak into another principal.
  t.same(viaText(policyInputJson(req, ctx)), viaObject(req, ctx), 'the same again');
  const other = decisionContext('read');
  Object.assign(other, { principal: principal({ id: 'bob', claims: Object.freeze({ sub: 'bob' }) }) });
  t.same(viaText(policyInputJson(req, other)), viaObject(req, other), 'another principal gets its own claims');
  // A verified token's principal is frozen (roles and claims too) and shared by its requests: its text is kept per object.
  const verified = Object.freeze(principal({ id: 'carol', roles: Object.freeze(['editor']), claims: Object.freeze({ sub: 'carol', s: awkward }) }));
  for (const [i, r] of [req, authzRequest({ path: '/x' })].entries()) {
    const c = decisionContext('read');
    Object.assign(c, { principal: verified });
    t.same(viaText(policyInputJson(r, c)), viaObject(r, c), `a frozen principal, request ${i + 1}`);
  }
  const mutable = principal({ id: 'dave', roles: ['viewer'] });
  const m = decisionContext('read');
  Object.assign(m, { principal: mutable });
  t.same(viaText(policyInputJson(req, m)), viaObject(req, m), 'a principal that is not frozen');
  (mutable.roles as string[]).push('admin');
  t.same(viaText(policyInputJson(req, m)), viaObject(req, m), 'is written again after it changed');

  const plain = authzRequest({ path: '/' });
  const plainCtx = decisionContext();
  t.same(viaText(policyInputJson(plain, plainCtx)), viaObject(plain, plainCtx), 'empty query, headers, metadata; no budget');

  const bytes = utf8Buffer(policyInputJson(req, ctx));
  t.ok(bytes instanceof ArrayBuffer, 'as an ArrayBuffer (opa-wasm\'s ready-JSON input, for modules older than ABI 1.2)');
  t.same(viaText(Buffer.from(bytes).toString('utf8')), viaObject(req, ctx), 'of exactly the UTF-8 bytes of the text');
});

for (const abiMinor of [2, 1] as const) {
  t.test(`the module receives the document (ABI 1.${abiMinor}); an allow-list keeps only the named headers`, async (t) => {
    const evaluator = await PolicyEvaluator.create(await standinWasm({ abiMinor }), {}, { initialPages: 5, maxPages: 64 });
    const echo = evaluator.entrypointId(EP.input)!;
    const awkward = 'quote " nul \u0000 euro € emoji 😀 lone \ud800';
    const req = authzRequest({ headers: { 'x-region': 'eu-west-1', authorization: 'Bearer abc', cookie: 'a=b', 'x-awkward': awkward } });
    const ctx = decisionContext();
    const [full] = evaluator.evaluateJson(echo, policyInputJson(req, ctx)) as [{ result: { now?: unknown } }];
    t.same(withoutNow(full.result), viaObject(req, ctx), 'the policy sees the whole OPA-Envoy document by default');
    const [lean] = evaluator.evaluateJson(echo, policyInputJson(req, ctx, { headers: new Set(['x-region']) })) as [{ result: { attributes: { request: { http: { headers: unknown } } } } }];
    t.same(lean.result.attributes.request.http.headers, { 'x-region': 'eu-west-1' }, 'only the allowed header');
    // A shorter input after a longer one: only this input's bytes are read (no tail of the last one).
    const [again] = evaluator.evaluateJson(echo, '{"a":1}') as [{ result: unknown }];
    t.same(again.result, { a: 1 }, 'each evaluation reads exactly its own input');
  });
}

t.test('a route declaring the headers its policy reads does not pay for a huge header it ignores', async (t) => {
  // Module memory capped at 3 pages (192 KiB): a 300 KiB header cannot be
  // written into it, so the full input fails closed; the lean one is evaluated.
  const root = tempDir(t);
  const file = await bundleTarball(root, 'bundle', {
    wasm: await standinWasm(),
    manifest: { revision: 'r1', wasm: [{ entrypoint: EP.allow, module: '/policy.wasm' }] },
  });
  const { cap } = capabilityUnderTest(t, { bundle: { file, watch_interval_ms: 0 }, memory: { initial_pages: 3, max_pages: 3 } });
  await cap.ready();
  const req = authzRequest({ headers: { 'x-region': 'eu-west-1', cookie: 'c'.repeat(300 * 1024) } });
  const everything = policyStage(cap);
  const lean = policyStage(cap, { input: { headers: ['X-Region'] } });
  t.same(everything.evaluate(req, decisionContext('read')), { kind: 'deny', status: 503, reason: 'policy_error' },
    'the whole input does not fit: fail closed');
  t.same(lean.evaluate(req, decisionContext('read')), { kind: 'allow' }, 'with input.headers it is evaluated and allowed');
  t.same(lean.evaluate(authzRequest(), decisionContext('write')), { kind: 'deny', status: 403, reason: 'policy_denied' },
    'and the policy still decides');
  t.throws(() => policyStage(cap, { input: { headers: ['bad header'] } }), /options/, 'a header name that is not one is a config error');
  t.throws(() => policyStage(cap, { input: { cookies: true } }), /options/, 'unknown input options are refused');
});
