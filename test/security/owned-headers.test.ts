// Issue 9, finding 2: a client-sent x-authz-principal, -tenant, -roles,
// -warning or x-budget-* survived to the upstream whenever the decision did
// not set that name itself (anonymous routes, a principal without roles or
// tenant, a route without a budget stage); gRPC's headers_to_remove was always
// empty. Now every owned name (decision/owned-headers.ts) is set or removed on
// every allow. Real sidecar, real gRPC and HTTP.
import t from 'tap';
import { request } from 'undici';
import { AuthzClient, envoyCheckRequest, headerRecord } from '../support/grpc-client.js';
import { startTestSidecar } from '../support/sidecar.js';

const SPOOFED = {
  'x-authz-principal': 'mallory',
  'x-authz-tenant': 'globex',
  'x-authz-roles': 'admin',
  'x-authz-warning': 'none',
  'x-budget-class': 'free',
  'x-budget-warning': 'none',
  'x-budget-remaining-daily': '1000000',
  'x-authz-anything': 'x',
};

t.test('gRPC: every owned header the decision does not set is in headers_to_remove', async (t) => {
  const s = await startTestSidecar(t);
  const client = new AuthzClient(s.sidecar.ports.grpc!);
  t.teardown(() => client.close());

  const anon = await client.check(envoyCheckRequest({ path: '/healthz', headers: SPOOFED }));
  t.equal(anon.response?.status?.code ?? 0, 0, 'the anonymous route allows');
  const removed = anon.response?.okResponse?.headersToRemove ?? [];
  for (const name of Object.keys(SPOOFED)) t.ok(removed.includes(name), `anonymous: ${name} is removed`);
  const set = headerRecord(anon.response?.okResponse?.headers);
  t.equal(set['x-authz-principal'], undefined, 'and not set');
  t.notOk(removed.includes('x-authz-decision-id'), 'the decision id is set, not removed');

  // A principal without roles: principal and tenant are set (overwriting), roles removed.
  const token = await s.token({ roles: [] });
  const auth = { authorization: `Bearer ${token}` };
  const health = await client.check(envoyCheckRequest({ path: '/healthz', headers: { ...auth, ...SPOOFED } }));
  const up = headerRecord(health.response?.okResponse?.headers);
  const gone = health.response?.okResponse?.headersToRemove ?? [];
  t.equal(up['x-authz-principal'], 'alice', 'principal overwritten');
  t.equal(up['x-authz-tenant'], 'acme', 'tenant overwritten');
  t.notOk(gone.includes('x-authz-principal'), 'a name that is set is not also removed');
  t.ok(gone.includes('x-authz-roles'), 'roles the principal does not have are removed');
  t.ok(gone.includes('x-budget-remaining-daily'), 'a budget name the client made up is removed');
  t.ok(gone.includes('x-authz-anything'));

  const denied = await client.check(envoyCheckRequest({ path: '/api/v1/tenants/acme/projects/web', headers: SPOOFED }));
  t.equal(denied.response?.status?.code, 16, 'a deny forwards nothing upstream at all');
});

t.test('HTTP ext_authz: every owned header not set is named in x-envoy-auth-headers-to-remove', async (t) => {
  const s = await startTestSidecar(t);
  const anon = await request(s.url('http', '/healthz'), { headers: SPOOFED });
  t.equal(anon.statusCode, 200);
  await anon.body.dump();
  const removed = String(anon.headers['x-envoy-auth-headers-to-remove'] ?? '').split(',');
  for (const name of Object.keys(SPOOFED)) t.ok(removed.includes(name), `anonymous: ${name} is removed`);
  t.equal(anon.headers['x-authz-principal'], undefined, 'no identity on an anonymous allow');

  // Without the client sending any, the names we may set are still listed: Envoy
  // may not forward them to us (allowed_headers), but it removes them upstream.
  const bare = await request(s.url('http', '/healthz'));
  await bare.body.dump();
  const listed = String(bare.headers['x-envoy-auth-headers-to-remove']).split(',');
  for (const name of ['x-authz-principal', 'x-authz-tenant', 'x-authz-roles', 'x-authz-warning', 'x-budget-class', 'x-budget-warning']) {
    t.ok(listed.includes(name), `${name} listed even when the request did not show it`);
  }

  const token = await s.token({ roles: [] });
  const mine = await request(s.url('http', '/healthz'), { headers: { authorization: `Bearer ${token}`, ...SPOOFED } });
  await mine.body.dump();
  t.equal(mine.headers['x-authz-principal'], 'alice');
  const gone = String(mine.headers['x-envoy-auth-headers-to-remove']).split(',');
  t.notOk(gone.includes('x-authz-principal'));
  t.ok(gone.includes('x-authz-roles'));
});
