// End to end over gRPC: a grpc-js client → the real Sidecar (routes from a
// config, JWT verification against a real key set, the tenant and RBAC
// stages). Tests about the gRPC transport alone (framing, deadlines, raw
// protocol) use a stub decide() in test/support/grpc-server.ts instead.
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { AuthzClient, envoyCheckRequest, headerRecord } from '../../support/grpc-client.js';
import { startTestSidecar } from '../../support/sidecar.js';

const PROJECT = '/api/v1/tenants/acme/projects/p1';

t.test('the real Sidecar behind the gRPC server', async (t) => {
  const s = await startTestSidecar(t);
  const client = new AuthzClient(s.sidecar.ports.grpc!);
  t.teardown(() => client.close());
  const bearer = `Bearer ${await s.token()}`;

  t.test('a valid token on a project route: allowed, identity headers upstream, one decision id', async (t) => {
    const res = await client.check(envoyCheckRequest({ path: PROJECT, headers: { authorization: bearer } }));
    t.equal(res.response?.status?.code ?? 0, grpc.status.OK);
    const up = headerRecord(res.response?.okResponse?.headers);
    t.match(up, { 'x-authz-principal': 'alice', 'x-authz-tenant': 'acme', 'x-authz-roles': 'editor' });
    t.match(up['x-authz-decision-id'], /^[0-9a-f-]{36}$/);
    t.equal(headerRecord(res.response?.okResponse?.responseHeadersToAdd)['x-authz-decision-id'], up['x-authz-decision-id']);
  });

  t.test('no token → UNAUTHENTICATED / 401 no_identity', async (t) => {
    const res = await client.check(envoyCheckRequest({ path: PROJECT }));
    t.equal(res.response?.status?.code, grpc.status.UNAUTHENTICATED);
    t.equal(res.response?.deniedResponse?.status?.code, 401);
    t.match(JSON.parse(res.response?.deniedResponse?.body ?? '{}'), { error: 'unauthenticated', reason: 'no_identity' });
  });

  t.test('a token that is not a JWT → 401 with its reason', async (t) => {
    const res = await client.check(envoyCheckRequest({ path: PROJECT, headers: { authorization: 'Bearer nope' } }));
    t.equal(res.response?.status?.code, grpc.status.UNAUTHENTICATED);
    t.equal(res.response?.status?.message, 'token_malformed');
  });

  t.test('another tenant in the path → 403 tenant_mismatch', async (t) => {
    const res = await client.check(envoyCheckRequest({ path: '/api/v1/tenants/globex/projects/p1', headers: { authorization: bearer } }));
    t.equal(res.response?.status?.code, grpc.status.PERMISSION_DENIED);
    t.equal(res.response?.status?.message, 'tenant_mismatch');
  });

  t.test('a role without the permission → 403 rbac_denied', async (t) => {
    const viewer = `Bearer ${await s.token({ roles: ['viewer'] })}`;
    const res = await client.check(envoyCheckRequest({ method: 'PUT', path: PROJECT, headers: { authorization: viewer } }));
    t.equal(res.response?.status?.code, grpc.status.PERMISSION_DENIED);
    t.equal(res.response?.status?.message, 'rbac_denied');
  });

  t.test('no route → PERMISSION_DENIED no_route', async (t) => {
    const res = await client.check(envoyCheckRequest({ path: '/other', headers: { authorization: bearer } }));
    t.equal(res.response?.status?.code, grpc.status.PERMISSION_DENIED);
    t.equal(res.response?.status?.message, 'no_route');
  });

  t.test('routing and tenant come from the normalized path', async (t) => {
    // Through the anonymous health route, into a project route: the project route's identity rule applies.
    const viaHealth = await client.check(envoyCheckRequest({ path: `/healthz/..${PROJECT}` }));
    t.equal(viaHealth.response?.status?.message, 'no_identity', '/healthz/../api/… is the project route, not the health route');
    // Out of another tenant's path into acme's: judged as acme's.
    for (const path of ['/api/v1/tenants/globex/../acme/projects/p1', '/api/v1/tenants/globex/%2e%2e/acme/projects/p1']) {
      const res = await client.check(envoyCheckRequest({ path, headers: { authorization: bearer } }));
      t.equal(res.response?.status?.code ?? 0, grpc.status.OK, `${path} is acme's project`);
    }
  });

  t.test('an encoded slash is malformed, denied before routing', async (t) => {
    const res = await client.check(envoyCheckRequest({ path: '/api/v1/tenants/acme%2Fprojects/p1', headers: { authorization: bearer } }));
    t.equal(res.response?.status?.code, grpc.status.PERMISSION_DENIED);
    t.equal(res.response?.status?.message, 'encoded_slash');
  });

  t.test('a client grpc-timeout is honoured, not an error', async (t) => {
    const res = await client.check(envoyCheckRequest({ path: PROJECT, headers: { authorization: bearer } }), { deadline: Date.now() + 3000 });
    t.equal(res.response?.status?.code ?? 0, grpc.status.OK);
  });
});
