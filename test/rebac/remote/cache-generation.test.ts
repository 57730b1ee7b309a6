// docs/rebac.md: an answer fetched while the change feed evicted something is
// not cached — it may predate the change (a revocation) it raced with. The
// caller reads the cache's generation before its upstream call and hands it
// to set(); here the real DecisionCache, with an eviction in between.
import t from 'tap';
import { SidecarMetrics } from '../../../src/observability/metrics.js';
import { RebacMetrics } from '../../../src/rebac/metrics.js';
import { DecisionCache } from '../../../src/rebac/remote/decision-cache.js';

function cache(): DecisionCache {
  return new DecisionCache({ max: 100, allowTtlMs: 60_000, denyTtlMs: 60_000, metrics: new RebacMetrics(new SidecarMetrics({ defaultMetrics: false }).registry) });
}

t.test('an answer fetched across an eviction is not cached; one fetched without is', async (t) => {
  for (const evict of ['object', 'all'] as const) {
    const c = cache();
    const before = c.generation();
    // … the upstream Check is in flight; the feed sees a change …
    if (evict === 'object') c.invalidateObject('project:other');
    else c.invalidateAll();
    c.set('alice|can_deploy|project:acme-web', true, 'project:acme-web', 'user:alice', before);
    t.equal(c.get('alice|can_deploy|project:acme-web'), undefined, `eviction (${evict}) in between: not cached`);

    const now = c.generation();
    c.set('alice|can_deploy|project:acme-web', true, 'project:acme-web', 'user:alice', now);
    t.equal(c.get('alice|can_deploy|project:acme-web'), true, 'no eviction in between: cached');
  }
});
