import t from 'tap';
import { Authorizer } from '../../src/decision/authorizer.js';
import type { CompiledRoute, IdentityResult, RouteMatcher } from '../../src/decision/interfaces.js';
import { DECISION_ID_HEADER, type Decision, type Stage } from '../../src/decision/types.js';
import { createLogger } from '../../src/observability/logger.js';
import { SidecarMetrics } from '../../src/observability/metrics.js';
import { authzRequest, principal } from '../support/principals.js';

const log = createLogger('silent');

function route(over: Partial<CompiledRoute> = {}): CompiledRoute {
  return {
    name: 'r', action: 'read', anonymous: false, enforcement: undefined, deadlineMs: undefined,
    stages: [], explicitlyNoStages: false,
    resolveResource: (_req, _params, p) => ({ kind: 'ok', resource: { type: 'project', id: 'p1', tenant: p.tenant } }),
    ...over,
  };
}

function authorizer(opts: {
  route?: CompiledRoute | undefined;
  identity?: IdentityResult | Promise<IdentityResult>;
  enforcement?: 'deny' | 'dryrun' | 'warn';
  onDecision?: (d: Decision) => boolean | void;
  metrics?: SidecarMetrics;
}) {
  const r = 'route' in opts ? opts.route : route();
  const routes: RouteMatcher = { match: () => (r ? { route: r, params: {} } : undefined) };
  return new Authorizer({
    routes,
    identity: { identify: () => opts.identity ?? { kind: 'principal', principal: principal() } },
    enforcement: opts.enforcement ?? 'deny',
    deadlineMs: 50,
    metrics: opts.metrics ?? new SidecarMetrics({ defaultMetrics: false }),
    log,
    onDecision: opts.onDecision && ((d: Decision) => opts.onDecision?.(d) !== false),
  });
}

const allowStage: Stage = { name: 'ok', evaluate: () => ({ kind: 'allow', headers: { 'x-from-stage': '1' } }) };
const denyStage: Stage = { name: 'no', evaluate: () => ({ kind: 'deny', status: 403, reason: 'rbac_denied' }) };

t.test('allow carries identity headers upstream and the decision id both ways', async (t) => {
  const d = await authorizer({ route: route({ stages: [allowStage] }) }).decide(authzRequest());
  t.equal(d.allowed, true);
  t.equal(d.reason, 'allowed');
  t.equal(d.upstreamHeaders['x-authz-principal'], 'alice');
  t.equal(d.upstreamHeaders['x-authz-tenant'], 'acme');
  t.equal(d.upstreamHeaders['x-authz-roles'], 'viewer');
  t.equal(d.upstreamHeaders['x-from-stage'], '1');
  t.equal(d.upstreamHeaders[DECISION_ID_HEADER], d.decisionId);
  t.equal(d.responseHeaders[DECISION_ID_HEADER], d.decisionId);
  t.match(d.resource, { type: 'project', id: 'p1', tenant: 'acme' });
});

t.test('every decision has a distinct id', async (t) => {
  const a = authorizer({ route: route({ stages: [allowStage] }) });
  const ids = new Set<string>();
  for (let i = 0; i < 100; i++) ids.add((await a.decide(authzRequest())).decisionId);
  t.equal(ids.size, 100);
});

t.test('no route denies no_route', async (t) => {
  const d = await authorizer({ route: undefined }).decide(authzRequest());
  t.match(d, { allowed: false, status: 403, reason: 'no_route', stage: 'route' });
  t.equal(d.responseHeaders[DECISION_ID_HEADER], d.decisionId);
});

t.test('identity outcomes', async (t) => {
  const none = await authorizer({ route: route({ stages: [allowStage] }), identity: { kind: 'none' } }).decide(authzRequest());
  t.match(none, { allowed: false, status: 401, reason: 'no_identity', stage: 'identity' });
  const bad = await authorizer({ route: route({ stages: [allowStage] }), identity: { kind: 'invalid', reason: 'token_expired' } })
    .decide(authzRequest());
  t.match(bad, { allowed: false, status: 401, reason: 'token_expired' });
  const anon = await authorizer({ route: route({ anonymous: true, stages: [], explicitlyNoStages: true }), identity: { kind: 'none' } })
    .decide(authzRequest());
  t.match(anon, { allowed: true });
  t.equal(anon.upstreamHeaders['x-authz-principal'], undefined, 'anonymous carries no identity header');
  const badOnAnon = await authorizer({ route: route({ anonymous: true }), identity: { kind: 'invalid', reason: 'token_bad_signature' } })
    .decide(authzRequest());
  t.match(badOnAnon, { allowed: false, reason: 'token_bad_signature' }, 'a bad token is refused even on an anonymous route');
  const async = await authorizer({ route: route({ stages: [allowStage] }), identity: Promise.resolve({ kind: 'principal', principal: principal() }) })
    .decide(authzRequest());
  t.match(async, { allowed: true });
  const rejected = await authorizer({ route: route({ stages: [allowStage] }), identity: Promise.reject(new Error('jwks down')) })
    .decide(authzRequest());
  t.match(rejected, { allowed: false, status: 503, reason: 'identity_error' });
});

t.test('a route with stages that all abstain denies; an explicit empty list allows', async (t) => {
  const abstain: Stage = { name: 'a', evaluate: () => ({ kind: 'abstain' }) };
  t.match(await authorizer({ route: route({ stages: [abstain] }) }).decide(authzRequest()), { allowed: false, reason: 'no_decision' });
  t.match(await authorizer({ route: route({ stages: [], explicitlyNoStages: true }) }).decide(authzRequest()), { allowed: true });
});

t.test('resource resolution errors deny with their reason', async (t) => {
  const r = route({ resolveResource: () => ({ kind: 'error', reason: 'ambiguous_tenant' }) });
  t.match(await authorizer({ route: r }).decide(authzRequest()), { allowed: false, status: 403, reason: 'ambiguous_tenant' });
});

t.test('enforcement modes', async (t) => {
  const deny = await authorizer({ route: route({ stages: [denyStage] }) }).decide(authzRequest());
  t.match(deny, { allowed: false, status: 403, reason: 'rbac_denied', stage: 'no', mode: 'deny' });

  const dry = await authorizer({ route: route({ stages: [denyStage] }), enforcement: 'dryrun' }).decide(authzRequest());
  t.match(dry, { allowed: true, mode: 'dryrun', wouldDeny: { reason: 'rbac_denied', status: 403, stage: 'no' } });
  t.equal(dry.responseHeaders['x-authz-warning'], undefined, 'dryrun is silent to the client');

  const warn = await authorizer({ route: route({ stages: [denyStage], enforcement: 'warn' }) }).decide(authzRequest());
  t.match(warn, { allowed: true, mode: 'warn', wouldDeny: { reason: 'rbac_denied' } });
  t.equal(warn.responseHeaders['x-authz-warning'], 'would deny: rbac_denied');

  const routeOverridesGlobal = await authorizer({ route: route({ stages: [denyStage], enforcement: 'deny' }), enforcement: 'dryrun' })
    .decide(authzRequest());
  t.match(routeOverridesGlobal, { allowed: false, mode: 'deny' });
});

t.test('malformed requests deny even in dryrun', async (t) => {
  const d = await authorizer({ route: route({ stages: [allowStage] }), enforcement: 'dryrun' })
    .decide(authzRequest({ malformed: 'bad_path' }));
  t.match(d, { allowed: false, reason: 'bad_path', stage: 'request' });
});

t.test('metrics and the decision hook see every decision', async (t) => {
  const metrics = new SidecarMetrics({ defaultMetrics: false });
  const seen: Decision[] = [];
  const a = authorizer({ route: route({ stages: [denyStage] }), metrics, onDecision: (d) => { seen.push(d); } });
  await a.decide(authzRequest());
  await a.decide(authzRequest());
  t.equal(seen.length, 2);
  const text = await metrics.registry.metrics();
  t.match(text, /authz_decisions_total\{result="deny",reason="rbac_denied",stage="no"\} 2/);
  t.match(text, /authz_decision_duration_seconds_count\{transport="cli"\} 2/);
});

t.test('a decision the audit trail could not record is answered as a deny audit_unavailable, never as it was', async (t) => {
  const seen: Decision[] = [];
  const a = authorizer({ route: route({ stages: [allowStage] }), onDecision: (d) => {
    seen.push(d);
    return d.reason === 'audit_unavailable';
  } });
  const d = await a.decide(authzRequest());
  t.equal(d.allowed, false);
  t.equal(d.status, 503);
  t.equal(d.reason, 'audit_unavailable');
  t.same(seen.map((x) => x.reason), ['allowed', 'audit_unavailable'], 'the deny is offered to audit too');
  t.equal(seen[0]?.decisionId, d.decisionId, 'same decision id');
});
