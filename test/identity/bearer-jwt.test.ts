// Bearer JWTs verified against a local JWKS file: claim mapping, every
// refusal reason, clock skew, algorithm attacks, the verified-token cache and
// garbage input.
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { CompactSign, importJWK, SignJWT } from 'jose';
import { createTestIssuer, compactToken, nowSeconds, writeJwksFile, type TestIssuer } from '../support/jwt.js';
import { AUDIENCE, ISSUER, bearer, makeService, reasonOf, withHeaders } from './fixture.js';

const ALICE = { sub: 'alice', tenant_id: 'acme', roles: ['editor', 'viewer'] };

async function setup(t: Test, jwt: Record<string, unknown> = {}, opts: { clock?: () => number } = {}) {
  const dir = t.testdir({});
  const issuer = await createTestIssuer({ alg: 'ES256', kid: 'k1' });
  writeJwksFile(dir, issuer.jwks);
  const fx = makeService(t, { jwt: { jwks_file: 'jwks.json', issuer: ISSUER, audience: AUDIENCE, ...jwt } }, {
    baseDir: dir,
    clock: opts.clock,
  });
  await fx.service.ready();
  const sign = (claims: Record<string, unknown> = ALICE, o: Parameters<TestIssuer['sign']>[1] = {}) =>
    issuer.sign(claims, { issuer: ISSUER, audience: AUDIENCE, ...o });
  return { ...fx, issuer, sign, dir };
}

t.test('a valid token yields a user principal with the mapped claims', async (t) => {
  const { identify, sign } = await setup(t);
  const result = await identify(bearer(await sign()));
  t.equal(result.kind, 'principal');
  if (result.kind !== 'principal') return;
  t.match(result.principal, { id: 'alice', kind: 'user', tenant: 'acme', roles: ['editor', 'viewer'], source: 'jwt' });
  t.match(result.principal.claims, { sub: 'alice', iss: ISSUER, aud: AUDIENCE });
  t.ok(Object.isFrozen(result.principal), 'a cached principal is shared, so it is immutable');
});

t.test('the Bearer scheme is case-insensitive; roles may be one space/comma separated string', async (t) => {
  const { identify, sign } = await setup(t);
  const token = await sign({ sub: 'bob', tenant_id: 'acme', roles: 'admin viewer,editor' });
  const result = await identify(withHeaders({ authorization: `bEaReR ${token}` }));
  t.match(result, { kind: 'principal', principal: { id: 'bob', roles: ['admin', 'viewer', 'editor'] } });
});

t.test('claim names are configurable, including dotted paths into nested claims', async (t) => {
  const { identify, sign } = await setup(t, { claims: { subject: 'email', tenant: 'org.id', roles: 'realm_access.roles' } });
  const token = await sign({ sub: 'x', email: 'carol@example.com', org: { id: 'globex' }, realm_access: { roles: ['viewer'] } });
  t.match(await identify(bearer(token)), {
    kind: 'principal',
    principal: { id: 'carol@example.com', tenant: 'globex', roles: ['viewer'] },
  });
});

t.test('a token from a custom header, with or without the scheme', async (t) => {
  const { identify, sign } = await setup(t, { header: 'x-jwt' });
  const token = await sign();
  t.match(await identify(withHeaders({ 'x-jwt': token })), { kind: 'principal' });
  t.match(await identify(withHeaders({ 'x-jwt': `Bearer ${token}` })), { kind: 'principal' });
  t.match(await identify(bearer(token)), { kind: 'none' }, 'authorization is not read when another header is configured');
});

t.test('RS256, ES256 and EdDSA keys in one set each verify their own tokens', async (t) => {
  const dir = t.testdir({});
  const issuers = await Promise.all((['RS256', 'ES256', 'EdDSA'] as const).map((alg) => createTestIssuer({ alg, kid: alg })));
  writeJwksFile(dir, { keys: issuers.flatMap((i) => i.jwks.keys) });
  const { identify, service } = makeService(t, { jwt: { jwks_file: 'jwks.json', issuer: ISSUER } }, { baseDir: dir });
  await service.ready();
  for (const issuer of issuers) {
    const token = await issuer.sign({ sub: issuer.alg }, { issuer: ISSUER });
    t.match(await identify(bearer(token)), { kind: 'principal', principal: { id: issuer.alg } }, issuer.alg);
  }
});

t.test('each refusal has its own stable reason', async (t) => {
  const { identify, sign, issuer } = await setup(t);
  const impostor = await createTestIssuer({ alg: 'ES256', kid: 'k1' });
  const stranger = await createTestIssuer({ alg: 'ES256', kid: 'k-unknown' });
  const signingKey = await importJWK(issuer.privateJwk, 'ES256');
  const cases: Array<[string, string | Promise<string>, string]> = [
    ['expired', sign(ALICE, { expiresIn: -3600 }), 'token_expired'],
    ['not yet valid', sign(ALICE, { notBefore: 3600 }), 'token_not_yet_valid'],
    ['signed by another key with the same kid', impostor.sign(ALICE, { issuer: ISSUER, audience: AUDIENCE }), 'token_bad_signature'],
    ['kid not in the key set', stranger.sign(ALICE, { issuer: ISSUER, audience: AUDIENCE }), 'token_unknown_key'],
    ['wrong issuer', sign(ALICE, { issuer: 'https://evil.test' }), 'token_bad_issuer'],
    ['no issuer', issuer.sign(ALICE, { audience: AUDIENCE }), 'token_bad_issuer'],
    ['wrong audience', sign(ALICE, { audience: 'billing-api' }), 'token_bad_audience'],
    ['no audience', issuer.sign(ALICE, { issuer: ISSUER }), 'token_bad_audience'],
    ['no subject', sign({ tenant_id: 'acme' }), 'token_missing_claims'],
    ['empty subject', sign({ sub: '' }), 'token_missing_claims'],
    ['no exp', sign(ALICE, { expiresIn: null }), 'token_missing_claims'],
    ['tenant is not a string', sign({ sub: 'alice', tenant_id: 42 }), 'token_missing_claims'],
    ['roles is not a list of strings', sign({ sub: 'alice', roles: [1, 2] }), 'token_missing_claims'],
    ['exp is not a number', sign({ ...ALICE, exp: 'tomorrow' }, { expiresIn: null }), 'token_malformed'],
    ['alg none', compactToken({ alg: 'none', typ: 'JWT' }, { ...ALICE, iss: ISSUER, aud: AUDIENCE, exp: nowSeconds() + 60 }), 'token_alg_not_allowed'],
    ['signed payload is not JSON', new CompactSign(new TextEncoder().encode('not json')).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).sign(signingKey), 'token_malformed'],
    ['not a JWS', 'abc', 'token_malformed'],
    ['two parts', 'abc.def', 'token_malformed'],
    ['header is not JSON', 'bm90anNvbg.e30.c2ln', 'token_malformed'],
    ['header without alg', compactToken({ typ: 'JWT' }, {}, 'c2ln'), 'token_malformed'],
  ];
  for (const [what, token, reason] of cases) {
    t.equal(reasonOf(await identify(bearer(await token))), reason, what);
  }
  t.equal(reasonOf(await identify(withHeaders({ authorization: 'Basic YWxpY2U6c2VjcmV0' }))), 'token_malformed',
    'another scheme in authorization is refused, not ignored');
  t.equal(reasonOf(await identify(withHeaders({ authorization: 'Bearer ' }))), 'token_malformed', 'empty bearer');
});

t.test('algorithm confusion: an HS256 token keyed with the RSA public key is refused', async (t) => {
  const dir = t.testdir({});
  const rsa = await createTestIssuer({ alg: 'RS256', kid: 'rsa1' });
  writeJwksFile(dir, rsa.jwks);
  // Even with HS256 nominally allowed the key set holds no HMAC key; but the config cannot list it at all.
  t.throws(() => makeService(t, { jwt: { jwks_file: 'jwks.json', algorithms: ['HS256'] } }, { baseDir: dir }), /invalid_value[\s\S]*"algorithms"/);
  const { identify, service } = makeService(t, { jwt: { jwks_file: 'jwks.json', issuer: ISSUER } }, { baseDir: dir });
  await service.ready();
  const claims = { sub: 'mallory', iss: ISSUER, exp: nowSeconds() + 600 };
  for (const secret of [JSON.stringify(rsa.publicJwk), rsa.publicJwk.n!]) {
    const forged = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', kid: 'rsa1' })
      .sign(new TextEncoder().encode(secret));
    t.equal(reasonOf(await identify(bearer(forged))), 'token_alg_not_allowed');
  }
  const genuine = await rsa.sign({ sub: 'alice' }, { issuer: ISSUER });
  t.match(await identify(bearer(genuine)), { kind: 'principal' }, 'the genuine RS256 token still verifies');
});

t.test('only configured algorithms are accepted', async (t) => {
  const { identify, sign } = await setup(t, { algorithms: ['RS256'] });
  t.equal(reasonOf(await identify(bearer(await sign()))), 'token_alg_not_allowed', 'ES256 is not in the list');
});

t.test('clock skew is honoured for exp and nbf', async (t) => {
  const lenient = await setup(t, { clock_skew_s: 30 });
  t.match(await lenient.identify(bearer(await lenient.sign(ALICE, { expiresIn: -10 }))), { kind: 'principal' }, 'expired 10s ago, skew 30s');
  t.match(await lenient.identify(bearer(await lenient.sign(ALICE, { notBefore: 10 }))), { kind: 'principal' }, 'valid in 10s, skew 30s');
  t.equal(reasonOf(await lenient.identify(bearer(await lenient.sign(ALICE, { expiresIn: -120 })))), 'token_expired');
  t.equal(reasonOf(await lenient.identify(bearer(await lenient.sign(ALICE, { notBefore: 120 })))), 'token_not_yet_valid');
  const strict = await setup(t, { clock_skew_s: 0 });
  t.equal(reasonOf(await strict.identify(bearer(await strict.sign(ALICE, { expiresIn: -10 })))), 'token_expired', 'no skew');
});

t.test('two authorization headers are ambiguous, even if both are valid', async (t) => {
  const { identify, sign } = await setup(t);
  const a = `Bearer ${await sign()}`;
  const b = `Bearer ${await sign({ sub: 'bob' })}`;
  const req = withHeaders({ authorization: `${a},${b}` });
  const twice = { ...req, headerList: [['authorization', a], ['authorization', b]] as const };
  t.equal(reasonOf(await identify(twice)), 'ambiguous_credentials');
});

t.test('a verified token is cached: the repeat is synchronous and costs no signature check', async (t) => {
  const { service, sign, counter } = await setup(t);
  const req = bearer(await sign());
  const first = service.identify(req);
  t.ok(first instanceof Promise, 'the first sight verifies asynchronously');
  const verified = await first;
  const second = service.identify(req);
  t.notOk(second instanceof Promise, 'the repeat is answered synchronously');
  t.equal(second, verified, 'the very same result object');
  service.identify(req);
  t.equal(await counter('authz_token_cache_misses_total'), 1);
  t.equal(await counter('authz_token_cache_hits_total'), 2);
});

t.test('a token that shares a cached token\'s signature but not its payload is verified, and refused', async (t) => {
  const { service, sign } = await setup(t);
  const token = await sign();
  t.match(await service.identify(bearer(token)), { kind: 'principal', principal: { id: 'alice' } });
  const [header, , signature] = token.split('.');
  const payload = Buffer.from(JSON.stringify({ ...ALICE, sub: 'mallory', roles: ['admin'], iss: ISSUER, aud: AUDIENCE, exp: nowSeconds() + 600 })).toString('base64url');
  const forged = service.identify(bearer(`${header}.${payload}.${signature}`));
  t.ok(forged instanceof Promise, 'not answered from the cache: the cached entry is another token');
  t.equal(reasonOf(await forged), 'token_bad_signature');
  t.match(service.identify(bearer(token)), { kind: 'principal', principal: { id: 'alice' } }, 'the real token is still a cache hit');
});

t.test('a cached token is refused once its exp (plus skew) has passed', async (t) => {
  let now = Date.now();
  const { service, sign } = await setup(t, { clock_skew_s: 5 }, { clock: () => now });
  const token = await sign(ALICE, { expiresIn: 60 });
  t.match(await service.identify(bearer(token)), { kind: 'principal' });
  now += 60_000;
  t.match(service.identify(bearer(token)), { kind: 'principal' }, 'within the skew: still served from cache');
  now += 6_000;
  const expired = service.identify(bearer(token));
  t.notOk(expired instanceof Promise, 'answered from the cache entry, without re-verifying');
  t.equal(reasonOf(await expired), 'token_expired');
  t.equal(reasonOf(await service.identify(bearer(token))), 'token_expired', 'and stays refused');
});

t.test('cache_size 0 turns the cache off', async (t) => {
  const { service, sign, counter } = await setup(t, { cache_size: 0 });
  const req = bearer(await sign());
  await service.identify(req);
  const again = service.identify(req);
  t.ok(again instanceof Promise, 'verified again');
  t.match(await again, { kind: 'principal' });
  t.equal(await counter('authz_token_cache_hits_total'), 0);
});

t.test('garbage tokens are refused as invalid, never thrown', async (t) => {
  const { service } = await setup(t);
  const garbage = [
    randomBytes(300).toString('latin1'),
    randomBytes(300).toString('base64'),
    '...',
    'a.b.c',
    '..sig',
    `${'a'.repeat(64 * 1024)}.${'b'.repeat(10)}.c`,
    'x'.repeat(64 * 1024),
    compactToken({ alg: 'ES256', kid: 'k1' }, { sub: 'x', exp: nowSeconds() + 60 }, randomBytes(64).toString('base64url')),
    compactToken({ alg: 'ES256', kid: 'k1' }, { sub: 'x' }, ''),
    compactToken({ alg: 'ES256', kid: 'k1', crit: ['b64'], b64: false }, 'x', 'AAAA'),
    compactToken({ alg: 'ES256', kid: { nested: true } }, {}, 'AAAA'),
    compactToken([1, 2], {}, 'AAAA'),
    compactToken('null', {}, 'AAAA'),
  ];
  for (let i = 0; i < 300; i++) {
    const seg = () => randomBytes(Math.floor(Math.random() * 40)).toString('base64url');
    garbage.push(`${seg()}.${seg()}.${seg()}`);
  }
  for (const token of garbage) {
    let result;
    try {
      result = await service.identify(bearer(token));
    } catch (err) {
      t.fail(`threw on ${JSON.stringify(token.slice(0, 40))}: ${String(err)}`);
      continue;
    }
    if (result.kind !== 'invalid') t.fail(`accepted ${JSON.stringify(token.slice(0, 40))}`);
  }
  t.pass(`${garbage.length} garbage tokens refused`);
  t.equal(reasonOf(await service.identify(bearer(garbage[5]!))), 'token_malformed', 'a 64 KiB token');
});
