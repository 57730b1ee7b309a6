// What Envoy's access log can read from each answer: the CheckResponse's
// dynamic_metadata (decoded here by protobufjs from proto/, independently of
// our hand-written writer) and, from the HTTP transport, the same fields as
// headers. Which fields is configurable; by default nothing about the caller.
import t from 'tap';
import { request } from 'undici';
import { AuthzClient, envoyCheckRequest } from '../support/grpc-client.js';
import { startTestSidecar } from '../support/sidecar.js';

const PATH = '/api/v1/tenants/acme/projects/web';

function metadataOf(res: { response?: { dynamicMetadata?: { fields?: Record<string, { stringValue?: string }> } } }): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(res.response?.dynamicMetadata?.fields ?? {}).map(([k, v]) => [k, v.stringValue]));
}

t.test('default: decision id, reason and stage, on allow and deny, gRPC and HTTP', async (t) => {
  const s = await startTestSidecar(t);
  const client = new AuthzClient(s.sidecar.ports.grpc!);
  t.teardown(() => client.close());
  const allowed = await client.check(envoyCheckRequest({ path: PATH, headers: { authorization: `Bearer ${await s.token()}` } }));
  t.equal(allowed.response?.status?.code ?? 0, 0);
  const id = allowed.response?.okResponse?.headers?.find((h) => h.header?.key === 'x-authz-decision-id')?.header?.value;
  t.same(metadataOf(allowed), { decision_id: id, reason: 'allowed', stage: 'engine' });

  const denied = await client.check(envoyCheckRequest({ path: PATH, headers: { authorization: `Bearer ${await s.token({ tenant_id: 'globex' })}` } }));
  t.match(metadataOf(denied), { reason: 'tenant_mismatch', stage: 'tenant', decision_id: /^[0-9a-f-]{36}$/ });
  t.notOk('principal' in metadataOf(denied), 'no principal unless configured');

  const http = await request(s.url('http', PATH));
  t.equal(http.statusCode, 401);
  t.match(http.headers, { 'x-authz-reason': 'no_identity', 'x-authz-stage': 'identity', 'x-authz-decision-id': /^[0-9a-f-]{36}$/ });
  await http.body.dump();
});

t.test('configured fields: principal, tenant, route and action too, the same over HTTP', async (t) => {
  const s = await startTestSidecar(t, {
    decision_metadata: { fields: ['decision_id', 'reason', 'stage', 'principal', 'tenant', 'route', 'action'] },
  });
  const client = new AuthzClient(s.sidecar.ports.grpc!);
  t.teardown(() => client.close());
  const denied = await client.check(envoyCheckRequest({ path: PATH, headers: { authorization: `Bearer ${await s.token({ tenant_id: 'globex' })}` } }));
  t.match(metadataOf(denied), {
    decision_id: /^[0-9a-f-]{36}$/, reason: 'tenant_mismatch', stage: 'tenant', principal: 'alice', tenant: 'globex',
    route: 'read-project', action: 'read',
  });

  const http = await request(s.url('http', PATH), { headers: { authorization: `Bearer ${await s.token({ tenant_id: 'globex' })}` } });
  t.equal(http.statusCode, 403);
  t.match(http.headers, {
    'x-authz-reason': 'tenant_mismatch', 'x-authz-stage': 'tenant', 'x-authz-principal': 'alice', 'x-authz-tenant': 'globex',
    'x-authz-route': 'read-project', 'x-authz-action': 'read',
  });
  await http.body.dump();

  const ok = await request(s.url('http', PATH), { headers: { authorization: `Bearer ${await s.token()}` } });
  t.equal(ok.statusCode, 200);
  t.match(ok.headers, { 'x-authz-reason': 'allowed', 'x-authz-stage': 'engine', 'x-authz-principal': 'alice', 'x-authz-tenant': 'acme' });
  t.equal(ok.headers['x-authz-principal'], 'alice', 'the upstream identity header once, not repeated');
  await ok.body.dump();
});

t.test('an unknown field is a clear config error', async (t) => {
  await t.rejects(startTestSidecar(t, { decision_metadata: { fields: ['decision_id', 'password'] } }), /decision_metadata\.fields\.1/);
});

t.test('the fields apply on reload', async (t) => {
  const s = await startTestSidecar(t);
  const before = await request(s.url('http', PATH));
  t.equal(before.headers['x-authz-route'], undefined);
  await before.body.dump();
  s.writeConfig({ ...s.baseConfig, decision_metadata: { fields: ['decision_id', 'route'] } });
  t.equal(await s.sidecar.reload(), true);
  const after = await request(s.url('http', PATH));
  t.equal(after.headers['x-authz-route'], 'read-project');
  t.equal(after.headers['x-authz-reason'], undefined, 'reason is no longer configured');
  await after.body.dump();
});

t.test('a principal with characters no header may carry is encoded in the header, as it is in the metadata', async (t) => {
  const s = await startTestSidecar(t, { decision_metadata: { fields: ['decision_id', 'reason', 'principal'] } });
  const sub = 'zoë\r\nx-injected: 1';
  const token = await s.token({ sub, tenant_id: 'globex' });
  const http = await request(s.url('http', PATH), { headers: { authorization: `Bearer ${token}` } });
  t.equal(http.statusCode, 403);
  t.equal(http.headers['x-injected'], undefined, 'no header injected');
  t.equal(decodeURIComponent(String(http.headers['x-authz-principal'])), sub, 'percent-encoded UTF-8, reversible');
  await http.body.dump();
  const client = new AuthzClient(s.sidecar.ports.grpc!);
  t.teardown(() => client.close());
  const denied = await client.check(envoyCheckRequest({ path: PATH, headers: { authorization: `Bearer ${token}` } }));
  t.equal(metadataOf(denied).principal, sub);
});
