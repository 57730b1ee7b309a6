// The postgres audit sink through the real sidecar and a real PostgreSQL
// carrying the Audit Wall: events arrive exactly once even when shipping is
// replayed from the trail; route and policy controls reach the row and
// `audit query --control`; a new trail (an emptied audit volume) is a new chain.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { auditQueryCommand } from '../../src/audit/cli.js';
import { loadConfigFile } from '../../src/config/load.js';
import { createLogger } from '../../src/observability/logger.js';
import { Sidecar } from '../../src/sidecar.js';
import { postgresSink, postgresSkip, rows, startWall, until } from '../support/postgres-wall.js';
import { PROJECT_ROUTES, startTestSidecar } from '../support/sidecar.js';
import { standinWasm, STANDIN_ENTRYPOINTS, tempDir, writeBundleDir } from '../policy/helpers.js';

const skip = postgresSkip(t);

t.test('events arrive exactly once, with the route\'s and the policy\'s controls; replaying the trail adds nothing', { skip }, async (t) => {
  const server = await startWall(t);
  const bundleRoot = tempDir(t, 'pg-controls-');
  // The stand-in's `data` entrypoint answers the bundle's data document: an OPA-Envoy decision object naming a control.
  const bundle = writeBundleDir(join(bundleRoot, 'b'), { wasm: await standinWasm(), files: { 'data.json': { allowed: true, controls: ['EU-AI-Act:Art.14'] } } });
  const routes = [
    { ...PROJECT_ROUTES[1], controls: ['SOC2:CC6.1', 'ISO27001:A.5.15'],
      stages: ['tenant', 'rbac', { policy: { entrypoint: STANDIN_ENTRYPOINTS.data } }] },
  ];
  const s = await startTestSidecar(t, {
    routes,
    policy: { bundle: { dir: bundle } },
    audit: { sinks: [{ jsonl: { dir: 'audit' } }, postgresSink(server, 'test-pod')], batch: { max_events: 7, max_wait_ms: 5 } },
  });
  const token = await s.token();
  const ids: string[] = [];
  for (let i = 0; i < 30; i++) {
    const tenant = i % 5 === 0 ? 'globex' : 'acme';
    const res = await request(s.url('http', `/api/v1/tenants/${tenant}/projects/p${i}`), { headers: { authorization: `Bearer ${token}` } });
    await res.body.dump();
    ids.push(res.headers['x-authz-decision-id'] as string);
  }
  await until(async () => (await rows(server)).length === 30, 'all 30 events in the table');
  const table = await rows(server);
  t.same(new Set(table.map((r) => r.decision_id)), new Set(ids), 'every decision, once');
  t.same(table.map((r) => Number(r.seq)), Array.from({ length: 30 }, (_, i) => i + 1), 'in chain order');
  const allowed = await rows(server, "SELECT controls FROM authz_audit.decisions WHERE result = 'allow' LIMIT 1");
  t.same(allowed[0]?.controls, ['SOC2:CC6.1', 'ISO27001:A.5.15', 'EU-AI-Act:Art.14'], 'route controls, then the policy\'s');
  const denied = await rows(server, "SELECT controls, reason FROM authz_audit.decisions WHERE result = 'deny' LIMIT 1");
  t.same(denied[0], { controls: ['SOC2:CC6.1', 'ISO27001:A.5.15'], reason: 'tenant_mismatch' }, 'a denial before the policy carries the route\'s');

  // `audit query --control` over the trail finds them.
  let out = '';
  const io = { stdout: { write: (x: string) => { out += x; return true; } }, stderr: { write: () => true } };
  t.equal(await auditQueryCommand([join(s.dir, 'audit'), '--control', 'EU-AI-Act:Art.14'], io as never), 0);
  t.equal(out.trim().split('\n').length, 24, 'the 24 allowed decisions enforced the policy\'s control');

  // Replay: forget the checkpoint, restart on the same trail — the shipper sends everything again.
  await s.sidecar.close();
  rmSync(join(s.dir, 'audit', 'audit-shipped-postgres.json'));
  const restart = async () => {
    const sidecar = await Sidecar.start({ loaded: loadConfigFile(s.configFile, {}), log: createLogger('silent') });
    t.teardown(() => sidecar.close());
    const res = await request(`http://127.0.0.1:${sidecar.ports.http}/api/v1/tenants/acme/projects/after`, { headers: { authorization: `Bearer ${token}` } });
    await res.body.dump();
    return sidecar;
  };
  const again = await restart();
  await until(async () => (await rows(server)).length === 31, 'the new event arrives after the replay');
  t.equal((await rows(server)).length, 31, 'the replayed 30 did not duplicate');
  const chains = new Set((await rows(server)).map((r) => r.chain));
  t.equal(chains.size, 1, 'one trail, one chain');
  t.match([...chains][0], /^test-pod\/[0-9a-f]{8}$/);

  // An emptied audit volume (a pod restarted with a fresh emptyDir): a new trail from seq 1 is a new chain.
  await again.close();
  rmSync(join(s.dir, 'audit'), { recursive: true });
  await restart();
  await until(async () => (await rows(server)).length === 32, 'the new trail\'s first event arrives');
  const byChain = await rows(server, 'SELECT chain, max(seq)::int AS last FROM authz_audit.decisions GROUP BY chain ORDER BY last');
  t.same(byChain.map((r) => r.last), [1, 31], 'the new chain starts at seq 1 beside the old one');
});
