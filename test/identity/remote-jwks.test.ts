// A remote JWKS on a real loopback HTTP server that counts fetches: fetched
// once, one refetch for a new kid (rate-limited), fail closed when unreachable.
import t, { type Test } from 'tap';
import { createTestIssuer } from '../support/jwt.js';
import { compactToken, nowSeconds } from '../support/jwt.js';
import { startRecordingServer } from '../support/redirecting-server.js';
import { bearer, eventually, makeService, reasonOf } from './fixture.js';
import { closedPortUrl, startJwksServer } from './jwks-server.js';

async function setup(t: Test, jwt: Record<string, unknown> = {}) {
  const k1 = await createTestIssuer({ alg: 'ES256', kid: 'k1' });
  const k2 = await createTestIssuer({ alg: 'ES256', kid: 'k2' });
  const server = await startJwksServer(t, k1.jwks);
  const fx = makeService(t, { jwt: { jwks_url: server.url, ...jwt } });
  return { ...fx, server, k1, k2 };
}

t.test('the key set is fetched once and serves every token', async (t) => {
  const { service, identify, server, k1, counter } = await setup(t);
  await service.ready();
  t.equal(server.fetches, 1, 'ready() fetched the set');
  for (const sub of ['alice', 'bob', 'carol']) {
    t.match(await identify(bearer(await k1.sign({ sub }))), { kind: 'principal', principal: { id: sub } });
  }
  t.equal(server.fetches, 1, 'no further fetches');
  t.equal(await counter('authz_jwks_fetches_total', { outcome: 'success' }), 1);
});

t.test('a token with a new kid triggers exactly one refetch (rotation)', async (t) => {
  const { service, identify, server, k1, k2 } = await setup(t, { jwks_cooldown_s: 0 });
  await service.ready();
  server.jwks = { keys: [...k1.jwks.keys, ...k2.jwks.keys] };
  // Five different new-kid tokens at once share one refetch.
  const tokens = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((sub) => k2.sign({ sub })));
  const results = await Promise.all(tokens.map((tok) => identify(bearer(tok))));
  t.same(results.map((r) => r.kind), ['principal', 'principal', 'principal', 'principal', 'principal']);
  t.equal(server.fetches, 2, 'one refetch for the new kid');
  t.match(await identify(bearer(await k2.sign({ sub: 'f' }))), { kind: 'principal' });
  t.equal(server.fetches, 2, 'the kid is known now');
});

t.test('an unknown kid refetches at most once per cooldown', async (t) => {
  const { service, identify, server, k2 } = await setup(t, { jwks_cooldown_s: 30 });
  await service.ready();
  for (const sub of ['a', 'b', 'c']) {
    t.equal(reasonOf(await identify(bearer(await k2.sign({ sub })))), 'token_unknown_key');
  }
  t.equal(server.fetches, 1, 'within the cooldown made-up kids cause no fetch');

  const eager = await setup(t, { jwks_cooldown_s: 0 });
  await eager.service.ready();
  t.equal(reasonOf(await eager.identify(bearer(await eager.k2.sign({ sub: 'a' })))), 'token_unknown_key');
  t.equal(eager.server.fetches, 2, 'without a cooldown: one refetch, still unknown');
});

t.test('an unreachable JWKS fails closed with jwks_unavailable and keeps retrying', async (t) => {
  const k1 = await createTestIssuer({ alg: 'ES256', kid: 'k1' });
  const { service, identify, counter } = makeService(t, { jwt: { jwks_url: await closedPortUrl() } });
  let ready = false;
  void service.ready().then(() => (ready = true));
  await eventually(async () => (await counter('authz_jwks_fetches_total', { outcome: 'error' })) >= 2, 'a retry after the first failure');
  t.equal(reasonOf(await identify(bearer(await k1.sign({ sub: 'alice' })))), 'jwks_unavailable');
  t.notOk(ready, 'not ready while no key set has loaded');
});

t.test('a JWKS endpoint that does not answer times out into jwks_unavailable', async (t) => {
  const { identify, server, k1, counter } = await setup(t, { jwks_timeout_ms: 200 });
  server.mode = 'hang';
  await eventually(async () => (await counter('authz_jwks_fetches_total', { outcome: 'error' })) >= 1, 'the fetch to time out');
  t.equal(reasonOf(await identify(bearer(await k1.sign({ sub: 'alice' })))), 'jwks_unavailable');
});

t.test('error responses and non-JWKS bodies are refused; the source recovers by itself', async (t) => {
  for (const mode of ['error500', 'garbage'] as const) {
    const { service, identify, server, k1, counter } = await setup(t);
    server.mode = mode;
    await eventually(async () => (await counter('authz_jwks_fetches_total', { outcome: 'error' })) >= 1, `${mode}: refused`);
    t.equal(reasonOf(await identify(bearer(await k1.sign({ sub: 'alice' })))), 'jwks_unavailable', mode);
    server.mode = 'ok';
    await service.ready();
    t.match(await identify(bearer(await k1.sign({ sub: 'alice' }))), { kind: 'principal' }, `${mode}: recovers when the endpoint does`);
  }
});

t.test('a kid that changes on every request while the endpoint fails: one fetch per cooldown, not one per request', async (t) => {
  let now = Date.now();
  const k1 = await createTestIssuer({ alg: 'ES256', kid: 'k1' });
  const server = await startJwksServer(t, k1.jwks);
  const { service, identify } = makeService(t, { jwt: { jwks_url: server.url, jwks_cooldown_s: 30 } }, { clock: () => now });
  await service.ready();
  t.equal(server.fetches, 1);
  server.mode = 'error500';
  const madeUp = (i: number) => bearer(compactToken({ alg: 'ES256', kid: `kid-${i}` }, { sub: 'mallory', exp: nowSeconds() + 60 }, 'AAAA'));
  now += 31_000; // past the cooldown: the first unknown kid may refetch
  const reasons: string[] = [];
  for (let i = 0; i < 100; i++) reasons.push(reasonOf(await identify(madeUp(i))));
  t.equal(server.fetches, 2, '100 requests with new kids against a failing endpoint: one refetch');
  t.equal(reasons[0], 'jwks_unavailable', 'the request whose refetch failed');
  t.ok(reasons.slice(1).every((r) => r === 'token_unknown_key'), 'the rest are refused without a fetch');
  now += 31_000;
  for (let i = 100; i < 200; i++) await identify(madeUp(i));
  t.equal(server.fetches, 3, 'one more in the next cooldown period');
  t.match(await identify(bearer(await k1.sign({ sub: 'alice' }))), { kind: 'principal' }, 'known keys keep verifying meanwhile');
});

t.test('RSA keys too costly to verify with are left out, with a warning and a metric', async (t) => {
  const good = await createTestIssuer({ alg: 'RS256', kid: 'good' });
  const rsa = good.jwks.keys[0]!;
  const hugeExponent = { ...rsa, kid: 'big-e', e: Buffer.concat([Buffer.from([1]), Buffer.alloc(383)]).toString('base64url') };
  const fiveByteExponent = { ...rsa, kid: 'e-2^32+3', e: Buffer.from([1, 0, 0, 0, 3]).toString('base64url') };
  const hugeModulus = { ...rsa, kid: 'big-n', n: Buffer.concat([Buffer.from([1]), Buffer.alloc(1024, 0xff)]).toString('base64url') };
  const server = await startJwksServer(t, { keys: [hugeExponent, fiveByteExponent, hugeModulus, rsa] });
  const { service, identify, counter } = makeService(t, { jwt: { jwks_url: server.url, jwks_cooldown_s: 30 } });
  await service.ready();
  t.equal(await counter('authz_jwks_keys_ignored_total'), 3, 'exponents above 2^32+1 and an 8193-bit modulus are ignored');
  t.match(await identify(bearer(await good.sign({ sub: 'alice' }))), { kind: 'principal' }, 'the ordinary key verifies');
  const forged = bearer(compactToken({ alg: 'RS256', kid: 'big-e' }, { sub: 'x', exp: nowSeconds() + 60 }, 'AAAA'));
  t.equal(reasonOf(await identify(forged)), 'token_unknown_key', 'a token naming an ignored key finds no key');

  const strict = await startJwksServer(t, { keys: [rsa] });
  const small = makeService(t, { jwt: { jwks_url: strict.url, jwks_max_rsa_modulus_bits: 2048 } });
  await small.service.ready();
  t.equal(await small.counter('authz_jwks_keys_ignored_total'), 0, 'a 2048-bit modulus is within a 2048-bit limit');
});

t.test('a JWKS redirect to another origin is refused unless allowed', async (t) => {
  const k1 = await createTestIssuer({ alg: 'ES256', kid: 'k1' });
  const [home, elsewhere] = [await startRecordingServer(t), await startRecordingServer(t)];
  home.answer('/jwks.json', { redirect: `${elsewhere.origin}/jwks.json` });
  elsewhere.answer('/jwks.json', { body: JSON.stringify(k1.jwks), type: 'application/json' });
  const refused = makeService(t, { jwt: { jwks_url: `${home.origin}/jwks.json` } });
  await eventually(async () => (await refused.counter('authz_jwks_fetches_total', { outcome: 'error' })) >= 1, 'the refused redirect');
  t.equal(elsewhere.requests.length, 0, 'the other origin was not contacted');
  t.equal(reasonOf(await refused.identify(bearer(await k1.sign({ sub: 'alice' })))), 'jwks_unavailable');

  const allowed = makeService(t, { jwt: { jwks_url: `${home.origin}/jwks.json`, jwks_cross_origin_redirects: true } });
  await allowed.service.ready();
  t.match(await allowed.identify(bearer(await k1.sign({ sub: 'alice' }))), { kind: 'principal' });
});

t.test('a remote key set that changes drops cached tokens of withdrawn keys', async (t) => {
  const { service, identify, server, k1, k2 } = await setup(t, { jwks_cooldown_s: 0 });
  await service.ready();
  const t1 = await k1.sign({ sub: 'alice' });
  t.match(await identify(bearer(t1)), { kind: 'principal' });
  server.jwks = k2.jwks;
  t.match(await identify(bearer(await k2.sign({ sub: 'bob' }))), { kind: 'principal' }, 'k2 fetched');
  t.equal(reasonOf(await identify(bearer(t1))), 'token_unknown_key', 'k1 is gone, so is its cached token');
});
