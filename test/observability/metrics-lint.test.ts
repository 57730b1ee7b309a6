// `promtool check metrics` on what a real sidecar serves at /metrics after a
// load that touched every capability: names, types, help texts and suffixes
// pass Prometheus' own linter.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { startLoadedSidecar } from './loaded-sidecar.js';
import { requireTool } from './promtool.js';
import { WebhookMetrics } from '../../src/kubernetes/webhook-metrics.js';

t.test('promtool check metrics passes on a loaded sidecar', async (t) => {
  const promtool = requireTool(t, 'promtool');
  if (promtool === undefined) return;
  const loaded = await startLoadedSidecar(t);
  // Enough rounds to cross the budget's warn_at (10 of 40) and run it out.
  for (let i = 0; i < 45; i++) await loaded.round();
  const text = await loaded.metricsText();
  for (const name of ['authz_decisions_total', 'authz_rebac_breaker_state', 'authz_policy_bundle_loads_total',
    'authz_budget_warnings_total', 'authz_budget_exhausted_total', 'audit_events_delivered_total', 'authz_identity_failures_total', 'nodejs_active_handles']) {
    t.match(text, new RegExp(`^${name}`, 'm'), `${name} is exposed`);
  }
  const lint = spawnSync(promtool, ['check', 'metrics'], { input: text, encoding: 'utf8' });
  t.equal(lint.status, 0, `promtool check metrics: ${lint.stdout}${lint.stderr}`);
  t.equal(`${lint.stdout}${lint.stderr}`.trim(), '', 'no lint findings');
});

t.test('promtool check metrics passes on the injector\'s /metrics too (its process metrics included)', async (t) => {
  const promtool = requireTool(t, 'promtool');
  if (promtool === undefined) return;
  const metrics = new WebhookMetrics();
  metrics.count('injected');
  metrics.certificateReloads.inc({ outcome: 'success' });
  const text = await metrics.registry.metrics();
  t.match(text, /^nodejs_active_handles/m, 'the process metrics are exposed');
  const lint = spawnSync(promtool, ['check', 'metrics'], { input: text, encoding: 'utf8' });
  t.equal(lint.status, 0, `promtool check metrics: ${lint.stdout}${lint.stderr}`);
  t.equal(`${lint.stdout}${lint.stderr}`.trim(), '', 'no lint findings');
});
