// The decision metrics keep their own counts off prom-client's per-call path;
// what /metrics shows must be what prom-client's own Counter and Histogram
// would show for the same observations.
import t from 'tap';
import { Counter, Histogram, Registry } from 'prom-client';
import { SidecarMetrics } from '../../src/observability/metrics.js';

const BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25];

function referenceRegistry(): { registry: Registry; decisions: Counter<string>; latency: Histogram<string> } {
  const registry = new Registry();
  const decisions = new Counter({
    name: 'authz_decisions_total',
    help: 'Decisions by result (allow, deny, dryrun_allow, warn_allow), reason code and deciding stage.',
    labelNames: ['result', 'reason', 'stage'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'authz_decision_duration_seconds',
    help: 'Time from request normalized to decision made.',
    labelNames: ['transport'],
    buckets: BUCKETS,
    registers: [registry],
  });
  return { registry, decisions, latency };
}

const section = (text: string, name: string): string =>
  (text.split('\n\n').find((block) => block.includes(`# TYPE ${name} `)) ?? '').trim();

t.test('decision counts and latencies render as prom-client renders them', async (t) => {
  const metrics = new SidecarMetrics({ defaultMetrics: false });
  const ref = referenceRegistry();
  const decisions: Array<[string, string, string]> = [
    ['allow', 'allowed', 'engine'], ['allow', 'allowed', 'engine'], ['deny', 'rbac_denied', 'rbac'],
    ['allow', 'allowed', 'engine'], ['dryrun_allow', 'tenant_mismatch', 'tenant'], ['deny', 'rbac_denied', 'rbac'],
  ];
  for (const [result, reason, stage] of decisions) {
    metrics.countDecision(result, reason, stage);
    ref.decisions.inc({ result, reason, stage });
  }
  const latencies: Array<[string, number]> = [
    ['grpc', 0.00003], ['grpc', 0.00005], ['grpc', 0.0002], ['http', 0.3], ['grpc', 0.01], ['http', 0.0049], ['cli', 0],
  ];
  for (const [transport, seconds] of latencies) {
    metrics.observeDecision(transport, seconds);
    ref.latency.observe({ transport }, seconds);
  }
  const ours = await metrics.registry.metrics();
  const theirs = await ref.registry.metrics();
  for (const name of ['authz_decisions_total', 'authz_decision_duration_seconds']) {
    t.equal(section(ours, name), section(theirs, name), name);
  }
  t.match(ours, /authz_decision_duration_seconds_bucket\{le="0\.00005",transport="grpc"\} 2/);

  // Counts keep accumulating across scrapes.
  metrics.countDecision('allow', 'allowed', 'engine');
  ref.decisions.inc({ result: 'allow', reason: 'allowed', stage: 'engine' });
  t.equal(section(await metrics.registry.metrics(), 'authz_decisions_total'),
    section(await ref.registry.metrics(), 'authz_decisions_total'), 'second scrape');
  const json = await metrics.registry.getMetricsAsJSON();
  t.ok(json.find((m) => m.name === 'authz_decision_duration_seconds'), 'listed in getMetricsAsJSON');
});
