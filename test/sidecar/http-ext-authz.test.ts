import t from 'tap';
import { request } from 'undici';
import { startTestSidecar } from '../support/sidecar.js';

t.test('HTTP ext_authz: allow, deny and the response Envoy relies on', async (t) => {
  const s = await startTestSidecar(t);
  const token = await s.token();
  const auth = { authorization: `Bearer ${token}` };

  const ok = await request(s.url('http', '/api/v1/tenants/acme/projects/web'), { headers: auth });
  t.equal(ok.statusCode, 200);
  t.equal(ok.headers['x-authz-principal'], 'alice');
  t.equal(ok.headers['x-authz-tenant'], 'acme');
  t.equal(ok.headers['x-authz-roles'], 'editor');
  t.match(ok.headers['x-authz-decision-id'], /^[0-9a-f-]{36}$/);
  await ok.body.dump();

  const cross = await request(s.url('http', '/api/v1/tenants/globex/projects/web'), { headers: auth });
  t.equal(cross.statusCode, 403);
  const body = (await cross.body.json()) as Record<string, string>;
  t.equal(body.reason, 'tenant_mismatch');
  t.equal(body.decision_id, cross.headers['x-authz-decision-id']);
  t.equal(body.error, 'forbidden');
  t.equal(cross.headers['x-authz-principal'], undefined, 'no identity headers on a deny');

  const viewerToken = await s.token({ roles: ['viewer'] });
  const write = await request(s.url('http', '/api/v1/tenants/acme/projects/web'), {
    method: 'PUT', headers: { authorization: `Bearer ${viewerToken}` }, body: '{"x":1}',
  });
  t.equal(write.statusCode, 403);
  t.equal(((await write.body.json()) as Record<string, string>).reason, 'rbac_denied');

  const none = await request(s.url('http', '/api/v1/tenants/acme/projects/web'));
  t.equal(none.statusCode, 401);
  t.equal(((await none.body.json()) as Record<string, string>).reason, 'no_identity');

  const anon = await request(s.url('http', '/healthz'));
  t.equal(anon.statusCode, 200, 'an anonymous route needs no identity');
  await anon.body.dump();

  const noRoute = await request(s.url('http', '/nothing/here'), { headers: auth });
  t.equal(noRoute.statusCode, 403);
  t.equal(((await noRoute.body.json()) as Record<string, string>).reason, 'no_route');
});

t.test('HTTP ext_authz: bad tokens and bad paths deny with a reason, the server keeps serving', async (t) => {
  const s = await startTestSidecar(t);
  const path = '/api/v1/tenants/acme/projects/web';
  const cases: Array<[Record<string, string>, number, RegExp]> = [
    [{ authorization: 'Bearer garbage' }, 401, /^token_/],
    [{ authorization: `Bearer ${await s.token({}, { expiresIn: -120 })}` }, 401, /^token_expired$/],
    [{ authorization: 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.' }, 401, /^token_/],
  ];
  for (const [headers, status, reason] of cases) {
    const res = await request(s.url('http', path), { headers });
    t.equal(res.statusCode, status);
    t.match(((await res.body.json()) as Record<string, string>).reason, reason);
  }
  const token = await s.token();
  for (const p of ['/api/v1/tenants/acme/../globex/projects/web', '/api/v1/tenants/%2e%2e/admin', '//api/v1/tenants/globex/projects/web']) {
    const res = await request(s.url('http', p), { headers: { authorization: `Bearer ${token}` } });
    t.not(res.statusCode, 200, `${p} is not allowed`);
    await res.body.dump();
  }
  const encoded = await request(s.url('http', '/api/v1/tenants/acme/projects/a%2Fb'), { headers: { authorization: `Bearer ${token}` } });
  t.equal(encoded.statusCode, 403);
  t.equal(((await encoded.body.json()) as Record<string, string>).reason, 'encoded_slash');

  const huge = await request(s.url('http', path), { headers: { authorization: `Bearer ${token}`, 'x-big': 'a'.repeat(70 * 1024) } });
  t.ok(huge.statusCode === 431 || huge.statusCode === 403, 'an oversized header is refused');
  await huge.body.dump();

  const dup = await request(s.url('http', path), { headers: ['authorization', `Bearer ${token}`, 'authorization', `Bearer ${token}`] });
  t.equal(dup.statusCode, 401);
  t.equal(((await dup.body.json()) as Record<string, string>).reason, 'ambiguous_credentials');

  const still = await request(s.url('http', path), { headers: { authorization: `Bearer ${token}` } });
  t.equal(still.statusCode, 200, 'still serving after bad input');
  await still.body.dump();
});

t.test('enforcement modes end to end', async (t) => {
  const s = await startTestSidecar(t, { enforcement: 'dryrun' });
  const token = await s.token();
  const res = await request(s.url('http', '/api/v1/tenants/globex/projects/web'), { headers: { authorization: `Bearer ${token}` } });
  t.equal(res.statusCode, 200, 'dryrun allows a would-deny');
  await res.body.dump();
  const metrics = await (await request(s.url('admin', '/metrics'))).body.text();
  t.match(metrics, /authz_decisions_total\{result="dryrun_allow",reason="tenant_mismatch",stage="tenant"\} 1/);
});
