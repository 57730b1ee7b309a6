// The two promises of a remote key set that the rotation tests do not cover:
// after a non-zero jwks_cooldown_s an unknown kid refetches again, and the set
// is refreshed in the background every jwks_cache_s / 2 (at least 1 s), so a
// rotated key is known before any token has to wait for it.
import t from 'tap';
import { createTestIssuer } from '../support/jwt.js';
import { bearer, eventually, makeService, reasonOf } from './fixture.js';
import { startJwksServer } from './jwks-server.js';

t.test('an unknown kid refetches again once the cooldown has passed', async (t) => {
  const k1 = await createTestIssuer({ alg: 'ES256', kid: 'k1' });
  const k2 = await createTestIssuer({ alg: 'ES256', kid: 'k2' });
  const server = await startJwksServer(t, k1.jwks);
  // A long cache: the background refresh stays out of this test.
  const { service, identify } = makeService(t, { jwt: { jwks_url: server.url, jwks_cache_s: 3600, jwks_cooldown_s: 1 } });
  await service.ready();
  const first = server.fetches;
  const k2Token = bearer(await k2.sign({ sub: 'bob' }));
  t.equal(reasonOf(await identify(k2Token)), 'token_unknown_key', 'k2 is not published yet');
  server.jwks = { keys: [...k1.jwks.keys, ...k2.jwks.keys] };
  // Within the cooldown, k2 stays unknown without a fetch; after it, the next k2 token fetches and verifies.
  await eventually(async () => (await identify(k2Token)).kind === 'principal', 'k2 verified after the cooldown');
  t.ok(server.fetches > first, `a refetch happened (${server.fetches - first})`);
  t.ok(server.fetches - first <= 3, 'at most one refetch per cooldown, not one per token');
});

t.test('the key set is refreshed in the background: a rotated key verifies without an on-demand fetch', async (t) => {
  const k1 = await createTestIssuer({ alg: 'ES256', kid: 'k1' });
  const k2 = await createTestIssuer({ alg: 'ES256', kid: 'k2' });
  const server = await startJwksServer(t, k1.jwks);
  // cache 2 s → refresh every 1 s; the cooldown is long, so an unknown kid cannot trigger a fetch.
  const { service, identify } = makeService(t, { jwt: { jwks_url: server.url, jwks_cache_s: 2, jwks_cooldown_s: 3600 } });
  await service.ready();
  server.jwks = { keys: [...k1.jwks.keys, ...k2.jwks.keys] };
  const before = server.fetches;
  await eventually(() => server.fetches > before, 'a background fetch with no request asking for one');
  // The fetch is counted when the request arrives; the new set applies once its answer is read.
  const k2Token = bearer(await k2.sign({ sub: 'bob' }));
  await eventually(async () => (await identify(k2Token)).kind === 'principal', 'k2, published after start, verifies');
  t.match(await identify(k2Token), { kind: 'principal' }, 'k2, published after start, verifies');
});
