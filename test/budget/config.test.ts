// Bad budget config is refused with an error naming the path; hot reload
// applies limits and refuses backend changes.
import t from 'tap';
import { parse as parseYaml } from 'yaml';
import { createBudgetCapability } from '../../src/budget/index.js';
import { createLogger } from '../../src/observability/logger.js';
import { SidecarMetrics } from '../../src/observability/metrics.js';
import { build, decideSync, headersOf } from './harness.js';

const deps = () => ({ log: createLogger('silent'), metrics: new SidecarMetrics({ defaultMetrics: false }), baseDir: '.', env: {} });

function refusal(section: unknown): string {
  try {
    const cap = createBudgetCapability(section, deps());
    void cap.close();
    return '(accepted)';
  } catch (err) {
    return (err as Error).message;
  }
}

t.test('bad limits are refused, naming the path', async (t) => {
  t.match(refusal({ tenants: { acme: { daily: -1 } } }), /budget\.tenants\.acme\.daily: must not be negative/);
  t.match(refusal(parseYaml('tenants: { acme: { daily: .nan } }')), /budget\.tenants\.acme\.daily: must be a number/, 'YAML .nan');
  t.match(refusal(parseYaml('tenants: { acme: { monthly: .inf } }')), /budget\.tenants\.acme\.monthly/, 'YAML .inf');
  t.match(refusal({ tenants: { acme: { daily: '50' } } }), /budget\.tenants\.acme\.daily: must be a number/);
  t.match(refusal({ tenants: { acme: { rps: 1.5 } } }), /budget\.tenants\.acme\.rps: must be a whole number/);
  t.match(refusal({ tenants: { acme: { daily: 100, monthly: 50 } } }), /budget\.tenants\.acme\.daily: daily must not exceed monthly/);
  t.match(refusal({ tenants: { acme: { classes: { bulk: { daily: -2 } } } } }), /budget\.tenants\.acme\.classes\.bulk\.daily/);
  t.match(refusal({ tenants: { acme: { classes: { batch: { daily: 2 } } } } }), /budget\.tenants\.acme\.classes.*batch/);
  t.match(refusal({ tenants: { acme: { per_principal: { rpm: -1 } } } }), /budget\.tenants\.acme\.per_principal\.rpm/);
  t.match(refusal({ tenants: { acme: { dayly: 5 } } }), /budget\.tenants\.acme.*dayly/, 'a typo is not silently ignored');
  t.match(refusal({ defaults: { daily: 100 }, tenants: { acme: { monthly: 10 } } }),
    /budget\.tenants\.acme \(with budget\.defaults\)\.daily: 100 exceeds monthly 10/, 'checked after merging defaults');
  t.match(refusal({ tenants: { acme: { daily: -1, rps: 'x' } } }), /(daily.*; .*rps)|(rps.*; .*daily)/, 'every problem at once');
});

t.test('bad backend, lease and admin settings are refused', async (t) => {
  t.match(refusal({ backend: 'etcd' }), /budget\.backend/);
  t.match(refusal({ backend: 'memory', leases: { enabled: true } }), /budget\.leases\.enabled: leases need backend: redis/);
  t.match(refusal({ backend: 'redis', leases: { enabled: true, slice: 1.5 } }), /budget\.leases\.slice/);
  t.match(refusal({ backend: 'redis', leases: { enabled: true, slice: { units: -1 } } }), /budget\.leases\.slice/);
  t.match(refusal({ backend: 'redis', redis: { url: 'http://x' } }), /budget\.redis\.url: must be a redis:\/\//);
  t.match(refusal({ backend: 'redis', redis: { timeout_ms: 0 } }), /budget\.redis\.timeout_ms/);
  t.match(refusal({ backend: 'redis', redis: { on_unavailable: 'allow' } }), /budget\.redis\.on_unavailable/,
    'failing open is not an option');
  t.match(refusal({ backend: 'redis', redis: { url: 'redis://a', cluster: { nodes: ['redis://b:7000'] } } }),
    /budget\.redis: set one of url, cluster or sentinel/);
  t.match(refusal({ backend: 'redis', redis: { cluster: { nodes: ['redis://b:7000'] }, sentinel: { master_name: 'm', sentinels: ['redis://s'] } } }),
    /budget\.redis: set one of url, cluster or sentinel/);
  t.match(refusal({ backend: 'redis', redis: { cluster: { nodes: [] } } }), /budget\.redis\.cluster\.nodes: must list at least one node/);
  t.match(refusal({ backend: 'redis', redis: { cluster: { nodes: ['10.0.0.1:7000'] } } }), /budget\.redis\.cluster\.nodes\.0: must be a redis:\/\//);
  t.match(refusal({ backend: 'redis', redis: { cluster: { nodes: ['redis://b:7000'] }, key_prefix: 'app:{budget}:' } }),
    /budget\.redis\.key_prefix: must not contain \{ or \} with a cluster/, 'a brace in the prefix would place every tenant in one slot');
  t.match(refusal({ backend: 'redis', redis: { sentinel: { sentinels: ['redis://s:26379'] } } }), /budget\.redis\.sentinel\.master_name/);
  t.match(refusal({ backend: 'redis', redis: { sentinel: { master_name: 'm', sentinels: [] } } }), /budget\.redis\.sentinel\.sentinels: must list at least one sentinel/);
  t.match(refusal({ backend: 'redis', redis: { max_reply_bytes: 100 } }), /budget\.redis\.max_reply_bytes/);
  t.match(refusal({ backend: 'redis', redis: { max_batch: 0 } }), /budget\.redis\.max_batch/);
  t.match(refusal({ backend: 'redis', redis: { cluster: { nodes: ['redis://b:7000'] }, min_replicas: 1 } }),
    /budget\.redis\.min_replicas: is not supported with a cluster/);
  t.match(refusal({ warn_at: 1.2 }), /budget\.warn_at/);
  t.match(refusal({ admin: { token: 'short' } }), /budget\.admin\.token: must be at least 16 characters/);
});

t.test('bad route options are refused, naming the option', async (t) => {
  const { cap } = build(t, { tenants: { acme: { daily: 1 } } });
  const create = (o: unknown) => {
    try {
      cap.stageFactory.create(o, { route: 'r', resourceType: 'x', action: 'a' });
      return '(accepted)';
    } catch (err) {
      return (err as Error).message;
    }
  };
  t.match(create({ cost: -1 }), /options\.cost: must not be negative/);
  t.match(create({ cost: 'cheap' }), /options\.cost/);
  t.match(create({ class: 'batch' }), /options\.class/);
  t.match(create({ cost_header: 'x cost' }), /options\.cost_header: must be a header name/);
  t.match(create({ costs: 1 }), /costs/);
  t.equal(create(undefined), '(accepted)', '`- budget` with no options');
});

t.test('hot reload: limits apply to stages already built; backend changes are refused', async (t) => {
  const { cap, stage } = build(t, { warn_at: 0.5, tenants: { acme: { daily: 10 } } });
  const s = stage({ cost: 1 });
  t.equal(headersOf(decideSync(t, s))['x-budget-remaining-daily'], '9');
  await cap.reconfigure({ warn_at: 0.5, tenants: { acme: { daily: 20 } } });
  const r = decideSync(t, s);
  t.equal(headersOf(r)['x-budget-remaining-daily'], '18', 'new limit, same counter');
  await t.rejects(cap.reconfigure({ backend: 'redis', tenants: { acme: { daily: 20 } } }), /budget\.backend changed; it applies on restart only/);
  await t.rejects(cap.reconfigure({ tenants: { acme: { daily: -20 } } }), /budget\.tenants\.acme\.daily/);
  t.equal(headersOf(decideSync(t, s))['x-budget-remaining-daily'], '17', 'refused reloads leave the last good config');
});
