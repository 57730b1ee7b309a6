// Load shedding: while the event loop runs late, or too many decisions wait
// on I/O, requests are answered 503 `overloaded` at once — no stage runs, no
// audit event — and counted in authz_shed_total; once the sidecar catches up
// it decides again. Behaviour only: the lateness is made, not measured.
import t, { type Test } from 'tap';
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

/**
 * A shedder on a made clock and a made loop utilization. `turn` stands for one
 * run of its timer: due `sample_interval_ms` (5) after the last, run `lagMs`
 * late, the loop busy for `busy` of the time between. (Its real timer may run
 * too; on the stopped clock it changes nothing.)
 */
function madeShedder(t: Test) {
  const metrics = new SidecarMetrics({ defaultMetrics: false });
  let clock = 0;
  let utilization = 0;
  const shedder = new LoadShedder({ ...SHEDDING, max_in_flight: 1000 }, metrics.registry, () => clock, () => utilization);
  t.teardown(() => shedder.close());
  return {
    shedder,
    registry: metrics.registry,
    turn(lagMs: number, busy: number, times = 1) {
      for (let i = 0; i < times; i++) {
        clock += SHEDDING.sample_interval_ms + lagMs;
        utilization = busy;
        shedder.sample();
      }
    },
    /** How many of n requests made now are shed. */
    shedOf(n: number) {
      let shed = 0;
      for (let i = 0; i < n; i++) if (shedder.check() !== undefined) shed++;
      return shed;
    },
  };
}

t.test('a saturated, late loop sheds a growing share of requests until it keeps up, then decides them all again', async (t) => {
  const s = madeShedder(t);
  t.equal(s.shedOf(100), 0, 'an idle sidecar sheds nothing');
  s.turn(15, 1); // 15 ms late (under the 20 ms limit), the loop never idle
  const first = s.shedOf(1000);
  t.ok(first > 0 && first < 1000, `one saturated turn sheds some requests, not all (${first} of 1000)`);
  s.turn(15, 1, 10);
  const later = s.shedOf(1000);
  t.ok(later > first, `saturation that goes on sheds more (${later} of 1000)`);
  t.ok(later < 1000, 'never every request by fraction: some decisions go on');
  t.equal(await metricOf(s.registry, 'authz_shed_fraction'), s.shedder.shedFraction, 'the share is the gauge authz_shed_fraction');
  t.ok(Math.abs(later / 1000 - s.shedder.shedFraction) < 0.01, 'requests are shed in that share');

  s.turn(2, 0.95, 20); // on time, busy but not saturated: hold
  t.ok(Math.abs(s.shedOf(1000) - later) <= 1, 'at the edge (busy, not saturated) the share holds');
  s.turn(0, 0.5, 2000); // ten seconds of a loop that waits for requests again
  t.equal(s.shedder.shedFraction, 0, 'keeping up, the share decays to nothing');
  t.equal(s.shedOf(1000), 0, 'and every request is decided');
  t.equal(await metricOf(s.registry, 'authz_shed_fraction'), 0);
});

t.test('a loop busy all the time but on time (a few streams kept busy, nothing waiting) sheds nothing', async (t) => {
  const s = madeShedder(t);
  s.turn(1, 1, 1000);
  t.equal(s.shedOf(1000), 0);
});

t.test('one long pause does not shed nearly everything after it', async (t) => {
  const s = madeShedder(t);
  s.turn(2000, 1); // a two-second stall
  const shed = s.shedOf(1000);
  t.ok(shed > 0 && shed <= 50, `at most one in twenty (${shed} of 1000)`);
});

async function metricOf(registry: SidecarMetrics['registry'], name: string): Promise<number> {
  const text = await registry.getSingleMetricAsString(name);
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  return line === undefined ? NaN : Number(line.slice(name.length + 1));
}
