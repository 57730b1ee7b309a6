// The seam end to end: grpc-js client → our server → the real Authorizer.
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { AuthzClient, envoyCheckRequest, headerRecord } from '../../support/grpc-client.js';
import { VALID_TOKEN, startAuthorizerServer } from '../../support/grpc-authorizer.js';

t.test('real Authorizer behind the gRPC server', async (t) => {
  const server = await startAuthorizerServer();
  const client = new AuthzClient(server.port);
  t.teardown(async () => { client.close(); await server.close(); });

  t.test('valid identity on an /api/ route: allowed, identity and stage headers upstream', async (t) => {
    const res = await client.check(envoyCheckRequest({ path: '/api/things/1', headers: { authorization: VALID_TOKEN } }));
    t.equal(res.response?.status?.code ?? 0, grpc.status.OK);
    const up = headerRecord(res.response?.okResponse?.headers);
    t.match(up, { 'x-authz-principal': 'alice', 'x-authz-tenant': 'acme', 'x-authz-roles': 'editor', 'x-gate': 'passed' });
    t.match(up['x-authz-decision-id'], /^[0-9a-f-]{36}$/);
    t.equal(headerRecord(res.response?.okResponse?.responseHeadersToAdd)['x-authz-decision-id'], up['x-authz-decision-id']);
  });

  t.test('async identity and an async stage: allowed', async (t) => {
    const res = await client.check(envoyCheckRequest({ path: '/api/slow/x', headers: { authorization: VALID_TOKEN, 'x-async-identity': '1' } }));
    t.equal(res.response?.status?.code ?? 0, grpc.status.OK);
  });

  t.test('no identity → UNAUTHENTICATED / 401 no_identity', async (t) => {
    const res = await client.check(envoyCheckRequest({ path: '/api/things/1' }));
    t.equal(res.response?.status?.code, grpc.status.UNAUTHENTICATED);
    t.equal(res.response?.deniedResponse?.status?.code, 401);
    t.match(JSON.parse(res.response?.deniedResponse?.body ?? '{}'), { error: 'unauthenticated', reason: 'no_identity' });
  });

  t.test('wrong token → 401 token_invalid', async (t) => {
    const res = await client.check(envoyCheckRequest({ path: '/api/things/1', headers: { authorization: 'Bearer nope' } }));
    t.equal(res.response?.status?.message, 'token_invalid');
  });

  t.test('no route → PERMISSION_DENIED no_route', async (t) => {
    const res = await client.check(envoyCheckRequest({ path: '/other', headers: { authorization: VALID_TOKEN } }));
    t.equal(res.response?.status?.code, grpc.status.PERMISSION_DENIED);
    t.equal(res.response?.status?.message, 'no_route');
  });

  t.test('traversal out of /api/ is routed by the normalized path', async (t) => {
    const res = await client.check(envoyCheckRequest({ path: '/api/../admin', headers: { authorization: VALID_TOKEN } }));
    t.equal(res.response?.status?.message, 'no_route', '/api/../admin is /admin, which has no route');
    const enc = await client.check(envoyCheckRequest({ path: '/api/%2e%2e/admin', headers: { authorization: VALID_TOKEN } }));
    t.equal(enc.response?.status?.message, 'no_route');
  });

  t.test('an encoded slash is malformed, denied before routing', async (t) => {
    const res = await client.check(envoyCheckRequest({ path: '/api/a%2F..%2Fadmin', headers: { authorization: VALID_TOKEN } }));
    t.equal(res.response?.status?.code, grpc.status.PERMISSION_DENIED);
    t.equal(res.response?.status?.message, 'encoded_slash');
  });

  t.test('the client grpc-timeout caps the decision deadline', async (t) => {
    const res = await client.check(envoyCheckRequest({ path: '/api/things/1', headers: { authorization: VALID_TOKEN } }),
      { deadline: Date.now() + 3000 });
    t.equal(res.response?.status?.code ?? 0, grpc.status.OK);
  });
});
