// The policy capability through the whole sidecar: a bundle from config, a
// route naming its entrypoint, and the decision over real HTTP. The bundle's
// module is the test stand-in (test/support/opa-standin), which allows only
// inputs whose action is "read".
import t from 'tap';
import { request } from 'undici';
import { bundleTarball, standinWasm, STANDIN_ENTRYPOINTS, tempDir } from '../policy/helpers.js';
import { startTestSidecar } from '../support/sidecar.js';

t.test('a route with a policy stage decides through the loaded bundle', async (t) => {
  const root = tempDir(t, 'policy-wiring-'); // not t.testdir: the sidecar harness owns that one
  const bundle = await bundleTarball(root, 'bundle', {
    wasm: await standinWasm(),
    manifest: { revision: 'rev-7', roots: ['standin'] },
  });
  const route = (name: string, method: string, action: string) => ({
    name, match: { method, path: '/api/v1/tenants/:tenant/docs/:doc' }, action,
    resource: { type: 'doc', id: ':doc', tenant: ':tenant' },
    stages: ['tenant', 'rbac', { policy: { entrypoint: STANDIN_ENTRYPOINTS.allow } }],
  });
  const s = await startTestSidecar(t, {
    policy: { bundle: { file: bundle } },
    routes: [route('read-doc', 'GET', 'read'), route('write-doc', 'PUT', 'write')],
  });
  const token = await s.token({ roles: ['editor'] });
  const auth = { authorization: `Bearer ${token}` };

  const read = await request(s.url('http', '/api/v1/tenants/acme/docs/d1'), { headers: auth });
  t.equal(read.statusCode, 200, 'RBAC and the policy both allow a read');
  await read.body.dump();

  const write = await request(s.url('http', '/api/v1/tenants/acme/docs/d1'), { method: 'PUT', headers: auth });
  t.equal(write.statusCode, 403, 'RBAC allows an editor to write, the policy does not');
  t.match(await write.body.json(), { reason: 'policy_denied' });

  const ready = await request(s.url('admin', '/readyz'));
  t.match(await ready.body.json(), { status: 'ready', checks: { policy: true } });
});
