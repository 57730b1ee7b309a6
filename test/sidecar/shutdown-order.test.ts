// Shutdown closes in the order that loses nothing: servers drain the
// requests in flight, then the runtime and the deciding capabilities close,
// and audit closes last — so a decision answered during the drain is in the
// trail. The in-flight decision waits on a real (slow) OpenFGA HTTP API.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { startFga } from '../rebac/remote/harness.js';
import { startTestSidecar } from '../support/sidecar.js';

t.test('a decision answered while the servers drain is recorded before audit closes', async (t) => {
  const fga = await startFga(t, { latencyMs: 300 });
  const s = await startTestSidecar(t, {
    rebac: { mode: 'remote', remote: { api_url: fga.apiUrl, store_id: fga.storeId, timeout_ms: 5000 } },
    audit: { sinks: [{ jsonl: { dir: 'audit' } }] },
    routes: [{
      name: 'read-project', match: { method: 'GET', path: '/api/v1/tenants/:tenant/projects/:project' }, action: 'read',
      resource: { type: 'project', id: ':project', tenant: ':tenant' }, stages: ['tenant', { rebac: { relation: 'can_read' } }],
    }],
  });
  const token = await s.token();
  const inFlight = request(s.url('http', '/api/v1/tenants/acme/projects/acme-web'), { headers: { authorization: `Bearer ${token}` } });
  for (const until = Date.now() + 10_000; fga.count('check') === 0 && Date.now() < until;) await new Promise((r) => setTimeout(r, 10));
  t.equal(fga.count('check'), 1, 'the decision is waiting on OpenFGA');

  const closing = s.sidecar.close();
  const res = await inFlight;
  t.equal(res.statusCode, 200, 'the request in flight is answered during the drain');
  const decisionId = res.headers['x-authz-decision-id'];
  await res.body.dump();
  await closing;

  const events = readdirSync(join(s.dir, 'audit')).filter((f) => f.endsWith('.jsonl'))
    .flatMap((f) => readFileSync(join(s.dir, 'audit', f), 'utf8').split('\n').filter(Boolean))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  t.ok(events.some((e) => JSON.stringify(e).includes(String(decisionId))), 'its decision is in the audit trail');
});
