// Load shedding: while the event loop runs late, or too many decisions wait
// on I/O, requests are answered 503 `overloaded` at once — no stage runs, no
// audit event — and counted in authz_shed_total; once the sidecar catches up
// it decides again. Behaviour only: the lateness is made, not measured.
import t from 'tap';
import { Authorizer } from '../../src/decision/authorizer.js';
import type { CompiledRoute } from '../../src/decision/interfaces.js';
import { LoadShedder } from '../../src/decision/load-shedder.js';
import type { Decision, Stage, StageResult } from '../../src/decision/types.js';
import { createLogger } from '../../src/observability/logger.js';
import { SidecarMetrics } from '../../src/observability/metrics.js';
import { authzRequest, principal } from '../support/principals.js';
import { startTestSidecar } from '../support/sidecar.js';

const SHEDDING = { enabled: true, max_event_loop_lag_ms: 20, max_in_flight: 1, sample_interval_ms: 5 };

/** Keeps the thread busy for `ms`: the event loop cannot run its timers meanwhile (how overload looks from inside). */
function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) { /* spin */ }
}

async function metric(url: string, line: string): Promise<number> {
  const text = await (await fetch(url)).text();
  const found = text.split('\n').find((l) => l.startsWith(line));
  return found === undefined ? 0 : Number(found.slice(found.lastIndexOf(' ') + 1));
}

t.test('a late event loop sheds decisions, counts them, and recovers', async (t) => {
  const s = await startTestSidecar(t, { load_shedding: SHEDDING });
  const token = await s.token();
  const req = authzRequest({
    method: 'GET', path: '/api/v1/tenants/acme/projects/p1', transport: 'grpc',
    headers: { authorization: `Bearer ${token}` }, headerList: [['authorization', `Bearer ${token}`]],
  });
  // Idle first: on a busy test machine a 5 ms timer can run 20 ms late through
  // no fault of the sidecar's (and then it rightly sheds); wait for a loop on time.
  let first: Decision | undefined;
  for (const start = Date.now(); Date.now() - start < 5000;) {
    await new Promise((r) => setTimeout(r, 20));
    first = await s.sidecar.decide(req);
    if (first.allowed) break;
  }
  t.equal(first?.allowed, true, 'an idle sidecar decides');

  busy(100); // five times max_event_loop_lag_ms without reaching a timer
  const shed = s.sidecar.decide(req);
  t.notOk(shed instanceof Promise, 'answered at once');
  t.match(shed, { allowed: false, status: 503, reason: 'overloaded', stage: 'load_shedding' });

  const shedCount = await metric(s.url('admin', '/metrics'), 'authz_shed_total{signal="event_loop_lag"}');
  t.ok(shedCount >= 1, `counted in authz_shed_total (${shedCount})`);
  t.ok(await metric(s.url('admin', '/metrics'), 'authz_decisions_total{result="deny",reason="overloaded"') >= 1,
    'and in authz_decisions_total with its reason');

  // Once the loop is back on time (the next samples), requests are decided again.
  let again: Decision | undefined;
  for (const start = Date.now(); Date.now() - start < 5000;) {
    again = await s.sidecar.decide(req);
    if (again.allowed) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  t.equal(again?.allowed, true, 'decided again after the loop caught up');
});

t.test('decisions waiting on I/O past max_in_flight shed new ones; no stage runs, nothing is audited', async (t) => {
  const metrics = new SidecarMetrics({ defaultMetrics: false });
  // Only the in-flight signal here: a busy test machine must not shed by lag.
  const shedder = new LoadShedder({ ...SHEDDING, max_event_loop_lag_ms: 10_000 }, metrics.registry);
  t.teardown(() => shedder.close());
  let release!: (r: StageResult) => void;
  let stageCalls = 0;
  const slow: Stage = {
    name: 'slow',
    evaluate: () => {
      stageCalls++;
      return new Promise<StageResult>((r) => (release = r));
    },
  };
  const route: CompiledRoute = {
    name: 'r', action: 'read', anonymous: false, enforcement: undefined, deadlineMs: undefined, stages: [slow],
    explicitlyNoStages: false, resolveResource: () => ({ kind: 'ok', resource: { type: 'project', id: 'p1', tenant: 'acme' } }),
  };
  const audited: Decision[] = [];
  const authorizer = new Authorizer({
    routes: { match: () => ({ route, params: {} }) },
    identity: { identify: () => ({ kind: 'principal', principal: principal() }) },
    enforcement: 'deny', deadlineMs: 5000, metrics, log: createLogger('silent'),
    onDecision: (d) => { audited.push(d); return true; }, shedder,
  });

  const pending = authorizer.decide(authzRequest());
  t.ok(pending instanceof Promise, 'the first decision waits on its stage');
  const shed = authorizer.decide(authzRequest()) as Decision;
  t.match(shed, { allowed: false, status: 503, reason: 'overloaded' }, 'max_in_flight (1) reached: shed');
  t.equal(stageCalls, 1, 'no stage ran for the shed request');
  t.equal(audited.length, 0, 'the shed decision is not audited');
  const counted = await metrics.registry.getSingleMetricAsString('authz_shed_total');
  t.match(counted, /authz_shed_total\{signal="in_flight"\} 1/, 'counted by signal');

  release({ kind: 'allow' });
  t.equal((await pending).allowed, true, 'the waiting decision completes');
  const next = authorizer.decide(authzRequest());
  t.ok(next instanceof Promise, 'with nothing in flight the next request is decided');
  release({ kind: 'allow' });
  t.equal((await next).allowed, true);
  t.equal(audited.length, 2, 'decided ones are audited');
});
