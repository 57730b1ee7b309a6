// A remote JWKS on a real loopback HTTP server that counts fetches: fetched
// once, one refetch for a new kid (rate-limited), fail closed when unreachable.
import t, { type Test } from 'tap';
import { createTestIssuer } from '../support/jwt.js';
import { bearer, makeService, reasonOf } from './fixture.js';
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

t.test('an unreachable JWKS fails closed with jwks_unavailable', async (t) => {
  const k1 = await createTestIssuer({ alg: 'ES256', kid: 'k1' });
  const { service, identify, counter } = makeService(t, { jwt: { jwks_url: await closedPortUrl() } });
  await t.rejects(service.ready(), /cannot load JWKS from http:\/\/127\.0\.0\.1:\d+\/jwks\.json/);
  t.equal(reasonOf(await identify(bearer(await k1.sign({ sub: 'alice' })))), 'jwks_unavailable');
  t.ok((await counter('authz_jwks_fetches_total', { outcome: 'error' })) >= 2, 'failed fetches are counted');
});

t.test('a JWKS endpoint that does not answer times out into jwks_unavailable', async (t) => {
  const { service, identify, server, k1 } = await setup(t, { jwks_timeout_ms: 200 });
  server.mode = 'hang';
  await t.rejects(service.ready(), /timed out/);
  t.equal(reasonOf(await identify(bearer(await k1.sign({ sub: 'alice' })))), 'jwks_unavailable');
});

t.test('error responses and non-JWKS bodies are refused', async (t) => {
  for (const mode of ['error500', 'garbage'] as const) {
    const { service, identify, server, k1 } = await setup(t);
    server.mode = mode;
    await t.rejects(service.ready(), mode === 'error500' ? /HTTP 500/ : /not valid JSON/, mode);
    t.equal(reasonOf(await identify(bearer(await k1.sign({ sub: 'alice' })))), 'jwks_unavailable', mode);
    server.mode = 'ok';
    t.match(await identify(bearer(await k1.sign({ sub: 'alice' }))), { kind: 'principal' }, `${mode}: recovers when the endpoint does`);
  }
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
