// The rebac stage in embedded mode (the default): answers synchronously from
// the in-process engine with config/fga's example model, maps people and
// SPIFFE workloads to OpenFGA users, follows edits of the files (keeping the
// last good state), and turns bad checks into rebac_bad_request.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { createRebacCapability } from '../../src/rebac/index.js';
import { SidecarMetrics } from '../../src/observability/metrics.js';
import { authzRequest } from '../support/principals.js';
import { buildEmbedded, ctxFor, decide, eventually, isPromise, log, MODEL, REPO, thrown } from './remote/harness.js';

t.test('answers synchronously with the example model', async (t) => {
  const { stage, cap } = buildEmbedded(t);
  t.ok(cap.isReady(), 'ready once the model loaded');
  await cap.ready();
  const deploy = stage({ relation: 'can_deploy' });
  const ctx = ctxFor({ user: 'alice' });
  const r = deploy.evaluate(authzRequest(), ctx);
  t.notOk(isPromise(r), 'no promise on the hot path');
  t.same(r, { kind: 'allow' }, 'an org admin deploys the org’s projects');
  t.match(ctx.annotations.fga_model_id, /^[0-9A-Z]{26}$/, 'the model id is recorded');
  t.match(deploy.evaluate(authzRequest(), ctxFor({ user: 'carol' })), { kind: 'deny', status: 403, reason: 'rebac_denied' },
    'a viewer may not deploy');
  t.match(deploy.evaluate(authzRequest(), ctxFor({ user: 'erin' })), { kind: 'deny' }, 'another org’s admin may not');
  const read = stage('can_read');
  t.same(read.evaluate(authzRequest(), ctxFor({ user: 'carol' })), { kind: 'allow' }, 'shorthand `rebac: can_read`');
  t.same(read.evaluate(authzRequest(), ctxFor({ user: 'bob', project: 'acme-api' })), { kind: 'allow' }, 'org members read');
  t.match(read.evaluate(authzRequest(), ctxFor({ user: 'bob', project: 'globex-shop', tenant: 'globex' })), { kind: 'deny' });
});

t.test('several checks: all or any; objects from route parameters', async (t) => {
  const { stage } = buildEmbedded(t);
  const all = stage({ checks: [{ relation: 'can_read' }, { relation: 'admin', object: 'org::tenant' }] });
  t.same(all.evaluate(authzRequest(), ctxFor({ user: 'alice' })), { kind: 'allow' });
  t.match(all.evaluate(authzRequest(), ctxFor({ user: 'bob' })), { kind: 'deny', reason: 'rebac_denied' }, 'bob is no admin');
  const any = stage({ checks: [{ relation: 'admin', object: 'org::tenant' }, { relation: 'can_edit' }], mode: 'any' });
  t.same(any.evaluate(authzRequest(), ctxFor({ user: 'dave', project: 'acme-api' })), { kind: 'allow' }, 'dave edits acme-api');
  t.match(any.evaluate(authzRequest(), ctxFor({ user: 'carol' })), { kind: 'deny' });
  const literal = stage({ checks: [{ relation: 'member', object: 'org:acme' }] });
  t.same(literal.evaluate(authzRequest(), ctxFor({ user: 'bob', tenant: 'globex' })), { kind: 'allow' }, 'a fixed object');
});

t.test('SPIFFE workloads map to the workload type; anonymous callers are denied', async (t) => {
  const { stage } = buildEmbedded(t);
  const read = stage({ relation: 'can_read' });
  const ctx = ctxFor({ user: 'spiffe://cluster.local/ns/acme/sa/deployer', kind: 'workload' });
  t.same(read.evaluate(authzRequest(), ctx), { kind: 'allow' }, 'workload:ns/acme/sa/deployer is a member of acme');
  t.match(read.evaluate(authzRequest(), ctxFor({ user: 'spiffe://cluster.local/ns/globex/sa/x', kind: 'workload' })), { kind: 'deny' });
  t.match(read.evaluate(authzRequest(), ctxFor({ user: '', kind: 'anonymous' })), { kind: 'deny', reason: 'rebac_denied' });

  const full = buildEmbedded(t, { user: { workload_type: 'workload', workload_id: 'spiffe_id' } });
  t.match(full.stage({ relation: 'can_read' }).evaluate(authzRequest(), ctx), { kind: 'deny' },
    'workload_id spiffe_id looks up workload:spiffe://..., which has no tuples here');
});

t.test('bad checks deny rebac_bad_request; the stage keeps serving', async (t) => {
  const { stage } = buildEmbedded(t);
  const unknownRelation = stage({ relation: 'can_fly' });
  t.match(thrown(() => unknownRelation.evaluate(authzRequest(), ctxFor())), { reason: 'rebac_bad_request', status: 403 },
    'a synchronous StageFailure');
  t.match(await decide(unknownRelation), { kind: 'deny', status: 403, reason: 'rebac_bad_request', stage: 'rebac' });
  t.match(await decide(stage({ checks: [{ relation: 'member', object: 'team::tenant' }] })), { reason: 'rebac_bad_request' },
    'unknown type');
  t.match(await decide(stage({ relation: 'can_read' }), { project: 'has space' }), { reason: 'rebac_bad_request' }, 'malformed object id');
  t.match(await decide(stage({ checks: [{ relation: 'member', object: 'org::missing' }] })), { reason: 'rebac_bad_request' },
    'a route parameter the route does not have');
  t.match(await decide(stage({ relation: 'can_deploy' })), { kind: 'allow' }, 'still serving');
});

t.test('route options are validated when the route is built', async (t) => {
  const { stage } = buildEmbedded(t);
  t.throws(() => stage(undefined), /needs a relation/);
  t.throws(() => stage({ relation: 'a b' }), /relation|needs a relation/);
  t.throws(() => stage({ checks: [] }), /at least one check|needs a relation/);
  t.throws(() => stage({ checks: [{ relation: 'x', object: 'noid' }] }), /type:id|needs a relation/);
  t.throws(() => stage({ relation: 'x', extra: 1 }), Error);
});

t.test('config errors are clear', async (t) => {
  const deps = { log, metrics: new SidecarMetrics({ defaultMetrics: false }), baseDir: REPO, env: {} };
  t.throws(() => createRebacCapability({ mode: 'remote' }, deps), /rebac\.remote: mode remote needs a remote: section/);
  t.throws(() => createRebacCapability({ mode: 'remote', remote: { api_url: 'http://x', store_id: 'nope' } }, deps), /rebac\.remote\.store_id/);
  t.throws(() => createRebacCapability({ mode: 'embedded', embedded: { model: 'does/not/exist.fga' } }, deps), /cannot read model file/);
  t.throws(() => createRebacCapability({ mode: 'sideways' }, deps), /rebac\.mode/);
  const viaEnv = createRebacCapability(
    { mode: 'remote', remote: { api_url: 'http://127.0.0.1:1', store_id: '01ARZ3NDEKTSV4RRFFQ69G5FAV' } },
    { ...deps, env: { FGA_API_TOKEN: 'secret-token', FGA_MODEL_ID: '01ARZ3NDEKTSV4RRFFQ69G5FAW' } },
  );
  t.equal(viaEnv.config.remote?.api_token, 'secret-token', 'FGA_API_TOKEN fills the token');
  t.equal(viaEnv.config.remote?.authorization_model_id, '01ARZ3NDEKTSV4RRFFQ69G5FAW');
  t.equal(viaEnv.config.remote?.timeout_ms, 25, 'defaults');
  t.equal(viaEnv.isReady(), false, 'remote is not ready before it has read the model');
  await viaEnv.close();
});

t.test('edits of the model and tuples files are followed; a bad edit keeps the last good state', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'rebac-stage-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'model.fga'), readFileSync(MODEL, 'utf8'));
  const tuples = path.join(dir, 'tuples.yaml');
  writeFileSync(tuples, '- { user: "user:alice", relation: admin, object: "org:acme" }\n- { user: "org:acme", relation: owner, object: "project:acme-web" }\n');
  const metrics = new SidecarMetrics({ defaultMetrics: false });
  const cap = createRebacCapability(
    { embedded: { model: 'model.fga', tuples: 'tuples.yaml', watch_ms: 20 } },
    { log, metrics, baseDir: dir, env: {} },
  );
  t.teardown(() => cap.close());
  const deploy = cap.stageFactory.create({ relation: 'can_deploy' }, { route: 'r', resourceType: 'project', action: 'deploy' });
  t.same(deploy.evaluate(authzRequest(), ctxFor({ user: 'alice' })), { kind: 'allow' });

  writeFileSync(tuples, '- { user: "org:acme", relation: owner, object: "project:acme-web" }\n');
  await eventually(t, 'the revocation is picked up', () => (deploy.evaluate(authzRequest(), ctxFor({ user: 'alice' })) as { kind: string }).kind === 'deny');
  // Answers are remembered per check until the store changes: a grant after a deny is seen too.
  writeFileSync(tuples, '- { user: "user:alice", relation: admin, object: "org:acme" }\n- { user: "org:acme", relation: owner, object: "project:acme-web" }\n');
  await eventually(t, 'the grant is picked up', () => (deploy.evaluate(authzRequest(), ctxFor({ user: 'alice' })) as { kind: string }).kind === 'allow');
  writeFileSync(tuples, '- { user: "org:acme", relation: owner, object: "project:acme-web" }\n');
  await eventually(t, 'revoked again', () => (deploy.evaluate(authzRequest(), ctxFor({ user: 'alice' })) as { kind: string }).kind === 'deny');

  writeFileSync(path.join(dir, 'model.fga'), 'model\n  schema 1.1\ntype user\n  relations\n    define broken: [nope]\n');
  await eventually(t, 'the bad model is rejected', async () => (await metrics.registry.metrics()).includes('authz_rebac_model_reloads_total{outcome="failure"}'));
  t.match(deploy.evaluate(authzRequest(), ctxFor({ user: 'alice' })), { kind: 'deny', reason: 'rebac_denied' },
    'still answering with the last good model');
});
