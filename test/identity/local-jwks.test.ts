// The local JWKS file: loaded at start, reloaded on change, a bad version
// refused while the last good one keeps verifying.
import t, { type Test } from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestIssuer, writeJwksFile } from '../support/jwt.js';
import { bearer, eventually, makeService, reasonOf } from './fixture.js';

async function setup(t: Test) {
  const dir = t.testdir({});
  const k1 = await createTestIssuer({ alg: 'ES256', kid: 'k1' });
  const k2 = await createTestIssuer({ alg: 'RS256', kid: 'k2' });
  writeJwksFile(dir, k1.jwks);
  const fx = makeService(t, { jwt: { jwks_file: 'jwks.json' } }, { baseDir: dir });
  await fx.service.ready();
  return { ...fx, dir, k1, k2 };
}

t.test('ready() rejects with a clear error when the file cannot be used', async (t) => {
  const dir = t.testdir({ 'bad.json': '{ not json', 'empty.json': '{"keys": []}', 'private.json': '' });
  const issuer = await createTestIssuer({ alg: 'ES256', kid: 'k1' });
  writeFileSync(join(dir, 'private.json'), JSON.stringify({ keys: [issuer.privateJwk] }));
  writeFileSync(join(dir, 'broken-key.json'), JSON.stringify({ keys: [{ ...issuer.publicJwk, x: 'AAAA' }] }));
  const cases: Array<[string, RegExp]> = [
    ['missing.json', /cannot read JWKS file .*missing\.json: ENOENT/],
    ['bad.json', /bad\.json refused: not valid JSON/],
    ['empty.json', /no usable signing key/],
    ['private.json', /private or secret key material/],
    ['broken-key.json', /key #0 \(kid "k1"\) is not a valid EC public key/],
  ];
  for (const [file, message] of cases) {
    const { service } = makeService(t, { jwt: { jwks_file: file } }, { baseDir: dir });
    await t.rejects(service.ready(), message, file);
  }
});

t.test('a changed file is picked up: new keys verify, withdrawn keys stop verifying even cached tokens', async (t) => {
  const { service, identify, dir, k1, k2, counter } = await setup(t);
  const t1 = await k1.sign({ sub: 'alice' });
  const t2 = await k2.sign({ sub: 'bob' });
  t.match(await identify(bearer(t1)), { kind: 'principal' });
  t.equal(reasonOf(await identify(bearer(t2))), 'token_unknown_key');

  writeJwksFile(dir, { keys: [...k1.jwks.keys, ...k2.jwks.keys] });
  await eventually(async () => (await identify(bearer(t2))).kind === 'principal', 'k2 accepted after the file changed');
  t.match(await identify(bearer(t1)), { kind: 'principal' }, 'k1 still accepted');
  t.notOk(service.identify(bearer(t2)) instanceof Promise, 'k2 token now cached');

  writeJwksFile(dir, k2.jwks);
  await eventually(async () => reasonOf(await identify(bearer(t1))) === 'token_unknown_key',
    'the k1 token, cached before, is refused once k1 leaves the set');
  t.match(await identify(bearer(t2)), { kind: 'principal' });
  t.equal(await counter('authz_jwks_fetches_total', { outcome: 'success' }), 3, 'three versions loaded');
});

t.test('a bad file is refused and the last good key set keeps verifying', async (t) => {
  const { identify, dir, k1, k2, counter } = await setup(t);
  const file = join(dir, 'jwks.json');
  const versions = ['{ "keys": [ {"kty": "EC", "crv": "P-2', JSON.stringify({ keys: [k2.privateJwk] }), ''];
  let errors = 0;
  for (const bad of versions) {
    writeFileSync(file, bad);
    errors++;
    await eventually(async () => (await counter('authz_jwks_fetches_total', { outcome: 'error' })) >= errors,
      `bad version ${errors} refused`);
    // A fresh token (never cached) still verifies against the last good set.
    const fresh = await k1.sign({ sub: `alice-${errors}` });
    t.match(await identify(bearer(fresh)), { kind: 'principal' }, `still verifying after bad version ${errors}`);
  }
  writeJwksFile(dir, k2.jwks);
  await eventually(async () => (await identify(bearer(await k2.sign({ sub: 'bob' })))).kind === 'principal',
    'a good file after bad ones is picked up');
});
