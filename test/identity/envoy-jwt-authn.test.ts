// The payload Envoy's jwt_authn filter verified, read from filter metadata.
import t from 'tap';
import { authzRequest } from '../support/principals.js';
import { nowSeconds } from '../support/jwt.js';
import { bearer, makeService, reasonOf } from './fixture.js';

const NS = 'envoy.filters.http.jwt_authn';
const withPayloads = (entries: Record<string, unknown>, ns = NS) => authzRequest({ filterMetadata: { [ns]: entries } });

t.test('the verified payload becomes the principal, with the configured claim names', async (t) => {
  const { identify } = makeService(t, {
    envoy_jwt_authn: { enabled: true, payload_key: 'jwt_payload', claims: { subject: 'email', tenant: 'org', roles: 'groups' } },
  });
  const result = await identify(withPayloads({
    jwt_payload: { sub: 'x', email: 'alice@acme.test', org: 'acme', groups: 'editor viewer', exp: nowSeconds() + 60 },
  }));
  t.match(result, {
    kind: 'principal',
    principal: { id: 'alice@acme.test', kind: 'user', tenant: 'acme', roles: ['editor', 'viewer'], source: 'envoy_jwt_authn' },
  });
});

t.test('claim names default to identity.jwt.claims, then sub / tenant_id / roles', async (t) => {
  const plain = makeService(t, { envoy_jwt_authn: { enabled: true } });
  t.match(await plain.identify(withPayloads({ p: { sub: 'alice', tenant_id: 'acme', roles: ['viewer'] } })),
    { kind: 'principal', principal: { id: 'alice', tenant: 'acme', roles: ['viewer'] } });
  const dir = t.testdir({ 'jwks.json': '{"keys":[]}' });
  const fromJwt = makeService(t, { envoy_jwt_authn: { enabled: true }, jwt: { jwks_file: 'jwks.json', claims: { subject: 'uid' } } }, { baseDir: dir });
  t.match(await fromJwt.identify(withPayloads({ p: { uid: 'bob' } })), { kind: 'principal', principal: { id: 'bob' } });
});

t.test('without payload_key: the one payload counts, a JOSE header beside it is skipped, two payloads are ambiguous', async (t) => {
  const { identify } = makeService(t, { envoy_jwt_authn: { enabled: true } });
  t.match(await identify(withPayloads({ hdr: { alg: 'RS256', kid: 'k1', typ: 'JWT' }, pay: { sub: 'alice' } })),
    { kind: 'principal', principal: { id: 'alice' } });
  t.equal(reasonOf(await identify(withPayloads({ a: { sub: 'alice' }, b: { sub: 'mallory' } }))), 'ambiguous_credentials');
});

t.test('expiry is checked again, with the skew', async (t) => {
  const { identify } = makeService(t, { envoy_jwt_authn: { enabled: true, payload_key: 'p' } });
  t.match(await identify(withPayloads({ p: { sub: 'a', exp: nowSeconds() - 10 } })), { kind: 'principal' }, 'within 30s skew');
  t.equal(reasonOf(await identify(withPayloads({ p: { sub: 'a', exp: nowSeconds() - 120 } }))), 'token_expired');
  t.equal(reasonOf(await identify(withPayloads({ p: { sub: 'a', nbf: nowSeconds() + 120 } }))), 'token_not_yet_valid');
  t.equal(reasonOf(await identify(withPayloads({ p: { sub: 'a', exp: 'soon' } }))), 'token_malformed');
});

t.test('unusable payloads are invalid; an absent one is no credential', async (t) => {
  const { identify } = makeService(t, { envoy_jwt_authn: { enabled: true, payload_key: 'p' } });
  t.equal(reasonOf(await identify(withPayloads({ p: { tenant_id: 'acme' } }))), 'token_missing_claims');
  t.equal(reasonOf(await identify(withPayloads({ p: 'eyJ...' }))), 'token_malformed');
  t.equal(reasonOf(await identify(authzRequest({ filterMetadata: { [NS]: 'x' } }))), 'token_malformed');
  t.equal(reasonOf(await identify(withPayloads({ other: { sub: 'a' } }))), 'none', 'payload_key not there');
  t.equal(reasonOf(await identify(withPayloads({ p: { sub: 'a' } }, 'some.other.filter'))), 'none');
  t.equal(reasonOf(await identify(authzRequest())), 'none');
});

t.test('enabled: false ignores the metadata', async (t) => {
  const { identify } = makeService(t, { envoy_jwt_authn: { enabled: false } });
  t.equal(reasonOf(await identify(withPayloads({ p: { sub: 'a' } }))), 'none');
});

t.test('the metadata is trusted only when enabled is said: a section without it trusts nothing (issue 9)', async (t) => {
  // Anyone who can reach the gRPC port can write metadata_context; trusting it
  // must be a choice the user makes, not what a bare section does.
  const { identify } = makeService(t, { envoy_jwt_authn: { payload_key: 'p' } });
  t.equal(reasonOf(await identify(withPayloads({ p: { sub: 'a', tenant_id: 'acme' } }))), 'none');
});

t.test('Envoy-verified metadata is preferred over the bearer header it came from', async (t) => {
  const dir = t.testdir({ 'jwks.json': '{"keys":[]}' });
  const { identify } = makeService(t, { envoy_jwt_authn: { enabled: true }, jwt: { jwks_file: 'jwks.json' } }, { baseDir: dir });
  const req = { ...bearer('not-even-a-jwt'), filterMetadata: { [NS]: { p: { sub: 'alice' } } } };
  t.match(await identify(req), { kind: 'principal', principal: { id: 'alice', source: 'envoy_jwt_authn' } });
});
