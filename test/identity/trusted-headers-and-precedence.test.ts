// Dev-mode trusted headers, and the order in which sources are asked.
import t from 'tap';
import { identitySchema } from '../../src/config/schema.js';
import type { Peer } from '../../src/decision/types.js';
import { createIdentityService } from '../../src/identity/index.js';
import { createLogger } from '../../src/observability/logger.js';
import { createTestIssuer, writeJwksFile } from '../support/jwt.js';
import { bearer, makeService, reasonOf, withHeaders } from './fixture.js';

const DEV = { 'x-user-id': 'dev-user', 'x-tenant-id': 'acme', 'x-roles': 'admin, viewer' };

t.test('trusted headers are ignored completely unless enabled', async (t) => {
  const { identify } = makeService(t, {});
  t.equal(reasonOf(await identify(withHeaders(DEV))), 'none');
  const dup = { ...withHeaders(DEV), headerList: [['x-user-id', 'a'], ['x-user-id', 'b']] as const };
  t.equal(reasonOf(await identify(dup)), 'none', 'not even duplicates are looked at');
});

t.test('with trusted_headers on, the headers are the identity', async (t) => {
  const { identify } = makeService(t, { trusted_headers: true });
  t.match(await identify(withHeaders(DEV)), {
    kind: 'principal',
    principal: { id: 'dev-user', kind: 'user', tenant: 'acme', roles: ['admin', 'viewer'], source: 'trusted_headers' },
  });
  t.match(await identify(withHeaders({ 'x-user-id': 'solo' })), { kind: 'principal', principal: { tenant: undefined, roles: [] } });
  t.equal(reasonOf(await identify(withHeaders({ 'x-tenant-id': 'acme' }))), 'none', 'a tenant without a user is no identity');
});

t.test('a duplicated x-user-id or x-tenant-id is ambiguous', async (t) => {
  const { identify } = makeService(t, { trusted_headers: true });
  for (const name of ['x-user-id', 'x-tenant-id']) {
    const req = { ...withHeaders(DEV), headerList: [...Object.entries(DEV), [name, 'other']] as Array<[string, string]> };
    t.equal(reasonOf(await identify(req)), 'ambiguous_credentials', name);
  }
});

t.test('precedence: a bearer token beats the peer and the dev headers; a bad one never falls through', async (t) => {
  const dir = t.testdir({});
  const issuer = await createTestIssuer({ alg: 'ES256', kid: 'k1' });
  writeJwksFile(dir, issuer.jwks);
  const { identify, service } = makeService(t, {
    jwt: { jwks_file: 'jwks.json' },
    spiffe: {},
    trusted_headers: true,
  }, { baseDir: dir });
  await service.ready();
  const gateway: Peer = { address: '10.0.0.1', port: 1, principal: 'spiffe://cluster.local/ns/edge/sa/gateway', labels: {} };
  const token = await issuer.sign({ sub: 'alice' });
  const all = (authorization: string) => withHeaders({ authorization, ...DEV }, { source: gateway });

  t.match(await identify(all(`Bearer ${token}`)), { kind: 'principal', principal: { id: 'alice', source: 'jwt' } });
  t.equal(reasonOf(await identify(all(`Bearer ${await issuer.sign({ sub: 'alice' }, { expiresIn: -3600 })}`))), 'token_expired',
    'an expired token is not rescued by the peer or the headers');
  t.equal(reasonOf(await identify(all('Bearer garbage'))), 'token_malformed');
  t.match(await identify(withHeaders(DEV, { source: gateway })), { kind: 'principal', principal: { source: 'spiffe' } },
    'no token: the workload');
  const badPeer: Peer = { ...gateway, principal: 'spiffe://Bad/x' };
  t.equal(reasonOf(await identify(withHeaders(DEV, { source: badPeer }))), 'bad_spiffe_id', 'a bad peer id does not fall through either');
  t.match(await identify(withHeaders(DEV)), { kind: 'principal', principal: { source: 'trusted_headers' } }, 'nothing else: dev headers');
});

t.test('nothing presented is { kind: none }, answered synchronously', async (t) => {
  const dir = t.testdir({});
  writeJwksFile(dir, (await createTestIssuer()).jwks);
  const { service } = makeService(t, { jwt: { jwks_file: 'jwks.json' }, spiffe: {}, envoy_jwt_authn: { enabled: true } }, { baseDir: dir });
  await service.ready();
  const result = service.identify(bearer('x'));
  t.notOk(result instanceof Promise, 'a malformed token is refused without a promise');
  const none = service.identify(withHeaders({ accept: 'text/html' }));
  t.same(none, { kind: 'none' });
});

t.test('a second service on the same metrics registry (hot reload) does not collide', async (t) => {
  const first = makeService(t, {});
  t.doesNotThrow(() =>
    createIdentityService(identitySchema.parse({}), { log: createLogger('silent'), metrics: first.metrics, baseDir: '.' }).close());
  t.match(await first.metrics.registry.metrics(), /authz_token_cache_hits_total/);
});
