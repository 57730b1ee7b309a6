// A hot reload is all or nothing, through a real Sidecar reading a real
// config file: for each capability, a change to its section next to a route
// that cannot be built (an unknown stage) is refused as a whole, and the
// capability keeps enforcing exactly what it did; the same change without the
// bad route then applies (so the test would see a change that leaked).
import t from 'tap';
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { bundleTarball, standinWasm, STANDIN_ENTRYPOINTS, tempDir } from '../policy/helpers.js';
import { startTestSidecar, type TestSidecar } from '../support/sidecar.js';

const BAD_ROUTE = { match: { path: '/x' }, action: 'read', resource: { type: 't' }, stages: ['no-such-stage'] };

const projectRoute = (stages: unknown[]) => ({
  name: 'read-project', match: { method: 'GET', path: '/api/v1/tenants/:tenant/projects/:project' }, action: 'read',
  resource: { type: 'project', id: ':project', tenant: ':tenant' }, stages,
});

async function statuses(s: TestSidecar, n: number, path = '/api/v1/tenants/acme/projects/acme-web'): Promise<number[]> {
  const token = await s.token();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const res = await request(s.url('http', path), { headers: { authorization: `Bearer ${token}` } });
    await res.body.dump();
    out.push(res.statusCode);
  }
  return out;
}

/** Writes the config and reloads now (the file watcher may reload too: reloads run one at a time). */
async function reloadWith(s: TestSidecar, doc: Record<string, unknown>): Promise<boolean> {
  s.writeConfig(doc);
  return s.sidecar.reload();
}

t.test('budget: rps 100 -> 1 next to a bad route is refused and 100 is still enforced', async (t) => {
  const budget = (rps: number) => ({ backend: 'memory', tenants: { acme: { rps } } });
  const routes = [projectRoute(['tenant', 'rbac', 'budget'])];
  const s = await startTestSidecar(t, { budget: budget(100), routes });
  t.same(await statuses(s, 5), [200, 200, 200, 200, 200]);

  t.equal(await reloadWith(s, { ...s.baseConfig, budget: budget(1), routes: [...routes, BAD_ROUTE] }), false, 'refused');
  t.same(await statuses(s, 5), [200, 200, 200, 200, 200], 'rps 100 still enforced: the refused limit never applied');
  t.match(s.sidecar.status().parts.budget, { state: 'ok' });

  t.equal(await reloadWith(s, { ...s.baseConfig, budget: budget(1), routes }), true, 'the same limit alone applies');
  t.ok((await statuses(s, 3)).includes(429), 'rps 1 now enforced');
});

t.test('policy: a new bundle next to a bad route is refused and the old bundle keeps deciding', async (t) => {
  const root = tempDir(t, 'reload-policy-');
  const wasm = await standinWasm();
  const bundleA = await bundleTarball(root, 'a', { wasm, manifest: { revision: 'rev-a', roots: ['standin'] } });
  const bundleB = await bundleTarball(root, 'b', { wasm, manifest: { revision: 'rev-b', roots: ['standin'] } });
  const routes = [projectRoute(['tenant', 'rbac', { policy: { entrypoint: STANDIN_ENTRYPOINTS.allow } }])];
  const s = await startTestSidecar(t, { policy: { bundle: { file: bundleA } }, routes });
  t.same(await statuses(s, 1), [200]);
  t.match(s.sidecar.status().parts.policy, { state: 'ok', details: { revision: 'rev-a' } });

  t.equal(await reloadWith(s, { ...s.baseConfig, policy: { bundle: { file: bundleB } }, routes: [...routes, BAD_ROUTE] }), false);
  t.match(s.sidecar.status().parts.policy, { state: 'ok', details: { revision: 'rev-a' } }, 'the prepared bundle was dropped');
  t.same(await statuses(s, 1), [200]);

  t.equal(await reloadWith(s, { ...s.baseConfig, policy: { bundle: { file: bundleB } }, routes }), true);
  t.match(s.sidecar.status().parts.policy, { state: 'ok', details: { revision: 'rev-b' } });
});

t.test('rebac: new tuples next to a bad route are refused and the old relationships keep answering', async (t) => {
  const routes = [projectRoute(['tenant', { rebac: { relation: 'can_read' } }])];
  const root = tempDir(t, 'reload-rebac-');
  copyFileSync('config/fga/model.fga', join(root, 'model.fga'));
  writeFileSync(join(root, 'tuples-a.yaml'), readFileSync('config/fga/tuples.yaml'));
  // alice is no longer an admin of acme: she may not read acme-web.
  writeFileSync(join(root, 'tuples-b.yaml'), '- { user: "org:acme", relation: owner, object: "project:acme-web" }\n');
  const rebac = (tuples: string) => ({ mode: 'embedded', embedded: { model: join(root, 'model.fga'), tuples: join(root, tuples) } });
  const s = await startTestSidecar(t, { routes, rebac: rebac('tuples-a.yaml') });
  t.same(await statuses(s, 1), [200]);

  t.equal(await reloadWith(s, { ...s.baseConfig, rebac: rebac('tuples-b.yaml'), routes: [...routes, BAD_ROUTE] }), false);
  t.same(await statuses(s, 1), [200], 'alice still reads: the new tuples never answered');
  t.match(s.sidecar.status().parts.rebac, { state: 'ok', details: { mode: 'embedded' } });

  t.equal(await reloadWith(s, { ...s.baseConfig, rebac: rebac('tuples-b.yaml'), routes }), true);
  t.same(await statuses(s, 1), [403], 'the new tuples alone apply');
});

t.test('audit: a changed section next to a bad route is refused and decisions keep being recorded', async (t) => {
  const audit = (onFull: string) => ({ sinks: [{ jsonl: { dir: 'audit' } }], on_full: onFull });
  const routes = [projectRoute(['tenant', 'rbac'])];
  const s = await startTestSidecar(t, { audit: audit('deny'), routes });
  t.same(await statuses(s, 1), [200]);
  t.equal(await reloadWith(s, { ...s.baseConfig, audit: audit('drop'), routes: [...routes, BAD_ROUTE] }), false);
  t.equal(await reloadWith(s, { ...s.baseConfig, audit: { ...audit('deny'), batch: { max_events: -1 } }, routes }), false,
    'an invalid audit section is refused');
  t.same(await statuses(s, 1), [200]);
  t.match(s.sidecar.status().parts.audit, { state: 'ok' });
  await s.sidecar.close();
  const lines = readdirSync(join(s.dir, 'audit')).filter((f) => f.endsWith('.jsonl'))
    .flatMap((f) => readFileSync(join(s.dir, 'audit', f), 'utf8').split('\n').filter(Boolean));
  t.equal(lines.length, 2, 'both decisions, before and after the refused reloads, are in the trail');
});

t.test('a reload that changes several capabilities commits all of them together', async (t) => {
  const root = tempDir(t, 'reload-several-');
  const wasm = await standinWasm();
  const bundleA = await bundleTarball(root, 'a', { wasm, manifest: { revision: 'rev-a', roots: ['standin'] } });
  const bundleB = await bundleTarball(root, 'b', { wasm, manifest: { revision: 'rev-b', roots: ['standin'] } });
  const routes = [projectRoute(['tenant', 'rbac', { policy: { entrypoint: STANDIN_ENTRYPOINTS.allow } }, 'budget'])];
  const budget = (rps: number) => ({ backend: 'memory', tenants: { acme: { rps } } });
  const s = await startTestSidecar(t, { policy: { bundle: { file: bundleA } }, budget: budget(100), routes });
  // The policy section's bundle is fine, the budget section is not: nothing changes.
  t.equal(await reloadWith(s, { ...s.baseConfig, policy: { bundle: { file: bundleB } }, budget: { tenants: { acme: { rps: -1 } } }, routes }), false);
  t.match(s.sidecar.status().parts.policy, { details: { revision: 'rev-a' } }, 'the policy prepared first was aborted');
  t.equal(await reloadWith(s, { ...s.baseConfig, policy: { bundle: { file: bundleB } }, budget: budget(1), routes }), true);
  t.match(s.sidecar.status().parts.policy, { details: { revision: 'rev-b' } });
  t.ok((await statuses(s, 3)).includes(429));
});

t.test('runtime: a changed heap growing factor is refused (it applies at start only) and routes keep deciding', async (t) => {
  const routes = [projectRoute(['tenant', 'rbac'])];
  const s = await startTestSidecar(t, { runtime: { heap_growing_percent: 50 }, routes });
  t.same(await statuses(s, 1), [200]);
  t.equal(await reloadWith(s, { ...s.baseConfig, runtime: { heap_growing_percent: 20 }, routes: [] }), false, 'refused');
  t.same(await statuses(s, 1), [200], 'the old routes still decide: nothing of the refused reload applied');
  t.equal(await reloadWith(s, { ...s.baseConfig, runtime: { heap_growing_percent: 50 }, routes }), true, 'unchanged runtime: reload applies');
});
