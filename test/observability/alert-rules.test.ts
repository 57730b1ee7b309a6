// The shipped alerting rules: valid for Prometheus, their unit tests pass
// under `promtool test rules`, every alert is shown firing by at least one of
// them, and the tests bite (a broken rule makes them fail).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { requireTool } from './promtool.js';

const DIR = 'config/prometheus';
const RULES = join(DIR, 'authz-sidecar.rules.yaml');
const TESTS = join(DIR, 'authz-sidecar.rules.test.yaml');

interface RuleFile { groups: { name: string; rules: { alert?: string; expr: string }[] }[] }
interface TestFile { tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[] }

const alertsIn = (file: RuleFile): string[] => file.groups.flatMap((g) => g.rules.flatMap((r) => (r.alert ? [r.alert] : [])));

t.test('the rules load and their unit tests pass', async (t) => {
  const promtool = requireTool(t, 'promtool');
  if (promtool === undefined) return;
  const check = spawnSync(promtool, ['check', 'rules', RULES], { encoding: 'utf8' });
  t.equal(check.status, 0, check.stdout + check.stderr);
  const run = spawnSync(promtool, ['test', 'rules', TESTS], { encoding: 'utf8' });
  t.equal(run.status, 0, run.stdout + run.stderr);
  t.match(run.stdout, /SUCCESS/);
});

t.test('every alert the issue asks for exists and is shown firing by a unit test', async (t) => {
  const rules = parse(readFileSync(RULES, 'utf8')) as RuleFile;
  const tests = parse(readFileSync(TESTS, 'utf8')) as TestFile;
  const alerts = alertsIn(rules);
  for (const wanted of ['AuthzDenyRatioJump', 'AuthzAuditUnavailableDenials', 'AuthzAuditBacklogGrowing', 'AuthzRebacBreakerOpen',
    'AuthzPolicyBundleNotRefreshed', 'AuthzBudgetWarning', 'AuthzDecisionLatencyHigh']) {
    t.ok(alerts.includes(wanted), `${wanted} is defined`);
  }
  const shownFiring = new Set(tests.tests.flatMap((c) => (c.alert_rule_test ?? []).filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
  t.same(alerts.filter((a) => !shownFiring.has(a)), [], 'no alert without a test that makes it fire');
});

t.test('the chart ships the same rules', async (t) => {
  t.equal(readFileSync('charts/authz-sidecar/files/authz-sidecar.rules.yaml', 'utf8'), readFileSync(RULES, 'utf8'),
    'charts/authz-sidecar/files/authz-sidecar.rules.yaml is a copy of config/prometheus/authz-sidecar.rules.yaml');
});

t.test('the unit tests fail when a rule is broken', async (t) => {
  const promtool = requireTool(t, 'promtool');
  if (promtool === undefined) return;
  const dir = t.testdir({});
  copyFileSync(TESTS, join(dir, 'authz-sidecar.rules.test.yaml'));
  // The breaker alert now needs state 3, which never happens.
  const broken = readFileSync(RULES, 'utf8').replace('(authz_rebac_breaker_state) > 0', '(authz_rebac_breaker_state) > 2');
  t.not(broken, readFileSync(RULES, 'utf8'), 'the rule was changed');
  writeFileSync(join(dir, 'authz-sidecar.rules.yaml'), broken);
  const run = spawnSync(promtool, ['test', 'rules', join(dir, 'authz-sidecar.rules.test.yaml')], { encoding: 'utf8' });
  t.not(run.status, 0, 'promtool test rules fails');
  t.match(run.stdout + run.stderr, /AuthzRebacBreakerOpen/);
});
