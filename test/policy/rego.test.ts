// The project's real policies (rego/), compiled with `opa build -t wasm` and
// evaluated by the policy stage. Needs the opa binary: runs only when OPA_BIN
// names it. Everywhere else the stand-in module covers the stage.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import type { StageResult } from '../../src/decision/types.js';
import { authzRequest, principal, resource } from '../support/principals.js';
import { createDecisionContext } from '../../src/decision/context.js';
import { capabilityUnderTest, policyStage, tempDir } from './helpers.js';

const OPA_BIN = process.env.OPA_BIN;

if (OPA_BIN === undefined || OPA_BIN === '') {
  t.test('rego/ compiled with opa', { skip: 'OPA_BIN is not set: compiling rego/ needs the opa binary, which these machines cannot install (set OPA_BIN=/path/to/opa to run)' }, async () => undefined);
} else {
  t.test('rego/ compiles to wasm, its unit tests pass, and the stage evaluates it', async (t) => {
    const root = tempDir(t);
    const out = join(root, 'bundle.tar.gz');
    execFileSync('sh', ['scripts/build-rego.sh'], { env: { ...process.env, OPA_BIN, OUT: out, REVISION: 'test-rev' }, stdio: 'pipe' });

    const { cap } = capabilityUnderTest(t, {
      bundle: { file: out, watch_interval_ms: 0 },
      entrypoint: 'authz/decision',
      data: {
        residency: { tenants: { acme: { allowed_regions: ['eu-west-1'], enforcement: 'deny' } } },
        governance: { models: { 'fraud-v4': { risk_level: 'high', explainability_report: { score: 0.79 } } } },
      },
    });
    await cap.ready();
    t.equal(cap.revision(), 'test-rev');

    const decide = (entrypoint: string | undefined, who: Parameters<typeof principal>[0], what: Parameters<typeof resource>[0],
      action: string, headers: Record<string, string> = {}): StageResult => {
      const ctx = createDecisionContext({ decisionId: 'd', principal: principal(who), action, resource: resource(what), route: 'r',
        routeParams: {}, deadline: performance.now() + 5000 });
      return policyStage(cap, entrypoint === undefined ? undefined : { entrypoint }).evaluate(authzRequest({ headers }), ctx) as StageResult;
    };
    t.same(decide(undefined, {}, {}, 'read'), { kind: 'allow' });
    t.match(decide(undefined, { tenant: 'globex', roles: ['admin'] }, {}, 'read'), { kind: 'deny', reason: 'tenant_mismatch' });
    t.match(decide(undefined, {}, {}, 'write'), { kind: 'deny', reason: 'rbac_denied' });
    t.same(decide('authz/allow', {}, {}, 'read'), { kind: 'allow' });
    t.same(decide('residency/decision', {}, { type: 'dataset' }, 'read', { 'x-data-region': 'eu-west-1' }), { kind: 'allow' });
    t.match(decide('residency/decision', {}, { type: 'dataset' }, 'read', { 'x-data-region': 'us-east-1' }),
      { kind: 'deny', status: 403, reason: 'data_region_not_allowed' });
    t.match(decide('governance/promotion/decision', {}, { type: 'model', id: 'fraud-v4' }, 'promote'),
      { kind: 'deny', reason: 'explainability_score_too_low' });
  });
}
