// `policy.signing` as a user writes it (a config section, a key file relative
// to the config's directory), through the capability that serves decisions:
// a signed bundle is served, a tampered or unsigned one is refused before it
// serves anything. And SHA-1 (like MD5) is refused as a file digest.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { digestFile } from '../../src/policy/bundle/canonical-hash.js';
import { capabilityUnderTest, decisionContext, policyStage, standinWasm, STANDIN_ENTRYPOINTS, tempDir, testSigner, writeBundleDir } from './helpers.js';
import { authzRequest } from '../support/principals.js';

t.test('policy.signing from config: signed bundles serve, tampered and unsigned ones are refused', async (t) => {
  const root = tempDir(t, 'policy-signing-');
  const signer = await testSigner();
  writeFileSync(join(root, 'bundle-key.pem'), signer.publicPem);
  const wasm = await standinWasm();
  const bundle = async (name: string, sign: boolean) => {
    const dir = writeBundleDir(join(root, name), { wasm, manifest: { revision: `${name}-1`, roots: [''] }, files: { 'data.json': { a: 1 } } });
    if (sign) await signer.sign(dir, { kid: 'ci' });
    return name;
  };
  const section = (dir: string) => ({ bundle: { dir, watch_interval_ms: 0 }, signing: { public_key_file: 'bundle-key.pem', key_id: 'ci' } });

  const good = capabilityUnderTest(t, section(await bundle('good', true)), { baseDir: root }).cap;
  await good.ready();
  const stage = policyStage(good, { entrypoint: STANDIN_ENTRYPOINTS.allow });
  t.match(stage.evaluate(authzRequest(), decisionContext('read')), { kind: 'allow' }, 'the signed bundle decides');

  const tamperedDir = await bundle('tampered', true);
  writeFileSync(join(root, tamperedDir, 'data.json'), JSON.stringify({ a: 2 }));
  await t.rejects(capabilityUnderTest(t, section(tamperedDir), { baseDir: root }).cap.ready(), /data\.json: digest mismatch/);

  await t.rejects(capabilityUnderTest(t, section(await bundle('unsigned', false)), { baseDir: root }).cap.ready(), /not signed/);

  const otherKid = await bundle('other-kid', false);
  await signer.sign(join(root, otherKid), { kid: 'someone-else' });
  await t.rejects(capabilityUnderTest(t, section(otherKid), { baseDir: root }).cap.ready(), /someone-else|key id|kid/);
});

t.test('SHA-1 and MD5 are not accepted as bundle file digests', async (t) => {
  const bytes = new TextEncoder().encode('x');
  for (const alg of ['SHA-1', 'MD5']) t.throws(() => digestFile('policy.wasm', bytes, alg), new RegExp(`unsupported hashing algorithm "${alg}"`));
  t.match(digestFile('policy.wasm', bytes, 'SHA-256'), /^[0-9a-f]{64}$/, 'SHA-256 is');
});
