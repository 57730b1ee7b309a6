import t from 'tap';
import { createDecisionContext } from '../../src/decision/context.js';
import { compileGrants, RbacStage } from '../../src/decision/rbac-stage.js';
import { TenantStage } from '../../src/decision/tenant-stage.js';
import { rbacSchema } from '../../src/config/schema.js';
import type { Principal, ResourceRef } from '../../src/decision/types.js';
import { authzRequest, principal, resource } from '../support/principals.js';

const ctx = (p: Principal, r: ResourceRef, action = 'read') =>
  createDecisionContext({ decisionId: 'd', principal: p, action, resource: r, route: 'r', routeParams: {}, deadline: performance.now() + 50 });

t.test('tenant isolation', async (t) => {
  const s = new TenantStage();
  t.match(s.evaluate(authzRequest(), ctx(principal(), resource())), { kind: 'allow' });
  t.match(s.evaluate(authzRequest(), ctx(principal({ tenant: 'globex' }), resource())), { kind: 'deny', reason: 'tenant_mismatch' });
  t.match(s.evaluate(authzRequest(), ctx(principal({ tenant: 'globex', roles: ['admin'] }), resource())),
    { kind: 'deny', reason: 'tenant_mismatch' }, 'even admin cannot cross tenants');
  t.match(s.evaluate(authzRequest(), ctx(principal({ tenant: undefined }), resource())), { kind: 'deny', reason: 'no_tenant' });
  t.match(s.evaluate(authzRequest(), ctx(principal(), resource({ tenant: undefined }))), { kind: 'deny', reason: 'no_tenant' });
  t.match(s.evaluate(authzRequest(), ctx(principal({ tenant: '' }), resource({ tenant: '' }))), { kind: 'deny', reason: 'no_tenant' },
    'two empty tenants are not a match');
});

t.test('RBAC defaults: admin everything, editor five actions, viewer read', async (t) => {
  const s = new RbacStage(compileGrants(rbacSchema.parse({})));
  const can = (roles: string[], action: string) => s.evaluate(authzRequest(), ctx(principal({ roles }), resource(), action)).kind;
  for (const a of ['read', 'write', 'delete', 'deploy', 'anything']) t.equal(can(['admin'], a), 'allow', `admin ${a}`);
  for (const a of ['read', 'write', 'execute', 'approve', 'export']) t.equal(can(['editor'], a), 'allow', `editor ${a}`);
  for (const a of ['delete', 'deploy']) t.equal(can(['editor'], a), 'deny', `editor not ${a}`);
  t.equal(can(['viewer'], 'read'), 'allow');
  t.equal(can(['viewer'], 'write'), 'deny');
  t.equal(can([], 'read'), 'deny', 'no roles, no access');
  t.equal(can(['unknown-role'], 'read'), 'deny');
  t.equal(can(['viewer', 'editor'], 'write'), 'allow', 'any role suffices');
});

t.test('RBAC per resource type', async (t) => {
  const s = new RbacStage(compileGrants(rbacSchema.parse({ roles: { auditor: { report: ['read', 'export'] } } })));
  const kind = (type: string, action: string) =>
    s.evaluate(authzRequest(), ctx(principal({ roles: ['auditor'] }), resource({ type }), action)).kind;
  t.equal(kind('report', 'export'), 'allow');
  t.equal(kind('project', 'read'), 'deny', 'grant is limited to its resource type');
});
