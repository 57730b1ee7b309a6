// The shipped example (config/fga/model.fga + tuples.yaml) answers as documented:
// org admins edit and deploy their org's projects, viewers only read.
import t from 'tap';
import { loadEmbeddedStore } from '../../../src/rebac/embedded/index.js';

const src = loadEmbeddedStore({ modelPath: 'config/fga/model.fga', tuplesPath: 'config/fga/tuples.yaml' });
const can = (user: string, relation: string, object: string): boolean => src.store.check({ tuple_key: { user, relation, object } }).allowed;

t.test('org admin can read, edit and deploy the org projects', async (t) => {
  for (const rel of ['can_read', 'can_edit', 'can_deploy']) t.ok(can('user:alice', rel, 'project:acme-web'), rel);
  t.ok(can('user:alice', 'can_deploy', 'project:acme-api'));
});

t.test('a viewer can only read', async (t) => {
  t.ok(can('user:carol', 'can_read', 'project:acme-web'));
  t.notOk(can('user:carol', 'can_edit', 'project:acme-web'));
  t.notOk(can('user:carol', 'can_deploy', 'project:acme-web'));
  t.notOk(can('user:carol', 'can_read', 'project:acme-api'), 'viewer of one project only');
});

t.test('members read, editors edit but do not deploy', async (t) => {
  t.ok(can('user:bob', 'can_read', 'project:acme-web'));
  t.notOk(can('user:bob', 'can_edit', 'project:acme-web'));
  t.ok(can('user:dave', 'can_edit', 'project:acme-api'));
  t.notOk(can('user:dave', 'can_deploy', 'project:acme-api'));
  t.ok(can('workload:ns/acme/sa/deployer', 'can_read', 'project:acme-web'), 'workload member reads');
});

t.test('tenants are isolated', async (t) => {
  t.notOk(can('user:erin', 'can_read', 'project:acme-web'));
  t.notOk(can('user:alice', 'can_read', 'project:globex-shop'));
  t.ok(can('user:erin', 'can_deploy', 'project:globex-shop'));
});
