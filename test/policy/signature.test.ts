// Signed bundles as OPA defines them: a JWS over the files' digests in
// .signatures.json, verified with the configured key. Signatures are made at
// test time with jose.
import { createHash, generateKeyPairSync } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { digestFile } from '../../src/policy/bundle/canonical-hash.js';
import { readBundleDir } from '../../src/policy/bundle/files.js';
import { parseBundleBytes, parseBundleFiles } from '../../src/policy/bundle/parse.js';
import { loadBundleVerifier, type BundleVerifier } from '../../src/policy/bundle/signature.js';
import { standinWasm, tarGz, tempDir, testSigner, writeBundleDir } from './helpers.js';

const MAX = 16 * 1024 * 1024;

async function verifierFor(dir: string, pem: string, extra: Record<string, unknown> = {}): Promise<BundleVerifier> {
  writeFileSync(join(dir, 'key.pem'), pem);
  return loadBundleVerifier(
    { public_key_file: 'key.pem', algorithm: 'RS256', exclude_files: [], ...extra } as never,
    (p) => join(dir, p),
  );
}

t.test('signed bundles: accepted when intact, refused when anything is off', async (t) => {
  const root = tempDir(t);
  const signer = await testSigner();
  const wasm = await standinWasm();
  const fresh = (name: string): string =>
    writeBundleDir(join(root, name), {
      wasm,
      manifest: { revision: 'signed-1', roots: [''] },
      files: { 'data.json': { b: 1, a: [true, 'x'] }, 'tenants/data.json': { acme: { regions: ['eu'] } } },
    });
  const verifier = await verifierFor(root, signer.publicPem, { key_id: 'ci' });

  const good = fresh('good');
  await signer.sign(good, { kid: 'ci' });
  // Whitespace and key order in structured files do not change their digest.
  writeFileSync(join(good, 'data.json'), '{\n  "a": [true, "x"],\n  "b": 1\n}\n');
  const b = await parseBundleFiles(await readBundleDir(good, MAX), verifier);
  t.equal(b.revision, 'signed-1');
  t.equal(b.signedBy, 'ci');
  const packed = await tarGz(good, join(root, 'good.tar.gz'));
  t.equal((await parseBundleBytes(readFileSync(packed), verifier, MAX)).revision, 'signed-1', 'and as a tarball');

  const tampered = fresh('tampered');
  await signer.sign(tampered, { kid: 'ci' });
  writeFileSync(join(tampered, 'tenants/data.json'), JSON.stringify({ acme: { regions: ['us'] } }));
  await t.rejects(parseBundleFiles(await readBundleDir(tampered, MAX), verifier), /tenants\/data\.json: digest mismatch/);

  const wasmSwapped = fresh('wasm-swapped');
  await signer.sign(wasmSwapped, { kid: 'ci' });
  writeFileSync(join(wasmSwapped, 'policy.wasm'), Buffer.concat([Buffer.from(wasm), Buffer.from([0])]));
  await t.rejects(parseBundleFiles(await readBundleDir(wasmSwapped, MAX), verifier), /policy\.wasm: digest mismatch/);

  const added = fresh('added');
  await signer.sign(added, { kid: 'ci' });
  writeFileSync(join(added, 'extra.rego'), 'package extra\n');
  await t.rejects(parseBundleFiles(await readBundleDir(added, MAX), verifier), /extra\.rego: not included/);

  const removed = fresh('removed');
  await signer.sign(removed, { kid: 'ci' });
  rmSync(join(removed, 'tenants/data.json'));
  await t.rejects(parseBundleFiles(await readBundleDir(removed, MAX), verifier), /listed in the bundle signature but not in the bundle/);

  const unsigned = fresh('unsigned');
  await t.rejects(parseBundleFiles(await readBundleDir(unsigned, MAX), verifier), /not signed/);
  await t.rejects(parseBundleBytes(wasm, verifier, MAX), /plain policy\.wasm carries no signature/);

  const otherSigner = await testSigner();
  const wrongKey = fresh('wrong-key');
  await otherSigner.sign(wrongKey, { kid: 'ci' });
  await t.rejects(parseBundleFiles(await readBundleDir(wrongKey, MAX), verifier), /does not verify/);

  const wrongKid = fresh('wrong-kid');
  await signer.sign(wrongKid, { kid: 'someone-else' });
  await t.rejects(parseBundleFiles(await readBundleDir(wrongKid, MAX), verifier), /expected "ci"/);

  const scoped = fresh('scoped');
  await signer.sign(scoped, { kid: 'ci', scope: 'write' });
  await t.rejects(parseBundleFiles(await readBundleDir(scoped, MAX), verifier), /scope mismatch/);
  const scopedVerifier = await verifierFor(root, signer.publicPem, { scope: 'write' });
  t.ok(await parseBundleFiles(await readBundleDir(scoped, MAX), scopedVerifier), 'the configured scope matches');

  // A signed bundle with no key configured is refused, as OPA does.
  await t.rejects(parseBundleFiles(await readBundleDir(good, MAX), undefined), /no verification key/);

  writeFileSync(join(unsigned, '.signatures.json'), '{"signatures": []}');
  await t.rejects(parseBundleFiles(await readBundleDir(unsigned, MAX), verifier), /expected exactly one/);
});

t.test('keys: PEM, JWK, and a clear error for anything else', async (t) => {
  const root = tempDir(t);
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  writeFileSync(join(root, 'ec.jwk'), JSON.stringify(publicKey.export({ format: 'jwk' })));
  writeFileSync(join(root, 'ec.pem'), publicKey.export({ format: 'pem', type: 'spki' }));
  writeFileSync(join(root, 'junk.pem'), 'junk');
  const resolve = (p: string) => join(root, p);
  t.ok(await loadBundleVerifier({ public_key_file: 'ec.jwk', algorithm: 'ES256', exclude_files: [] } as never, resolve));
  t.ok(await loadBundleVerifier({ public_key_file: 'ec.pem', algorithm: 'ES256', exclude_files: [] } as never, resolve));
  await t.rejects(loadBundleVerifier({ public_key_file: 'junk.pem', algorithm: 'ES256', exclude_files: [] } as never, resolve), /not a ES256 public key/);
  await t.rejects(loadBundleVerifier({ public_key_file: 'missing.pem', algorithm: 'RS256', exclude_files: [] } as never, resolve), /cannot read/);
});

t.test('structured digests follow OPA: sorted keys, number text kept, bytes for other files', async (t) => {
  const sha = (s: string) => createHash('sha256').update(s).digest('hex');
  const doc = '{ "b": 1.50, "a": {"z": null, "y": [1e3, -0, "\\u00e9", false]}, "c": "\u2028" }';
  t.equal(digestFile('x/data.json', Buffer.from(doc), 'SHA-256'), sha('{"a":{"y":[1e3,-0,"é",false],"z":null},"b":1.50,"c":"\\u2028"}'));
  t.equal(digestFile('.manifest', Buffer.from('{"revision":"r","roots":[""]}'), 'SHA-256'), sha('{"revision":"r","roots":[""]}'));
  t.equal(digestFile('policy.wasm', Buffer.from(' {} '), 'SHA-256'), sha(' {} '));
  t.equal(digestFile('x/data.yaml', Buffer.from('b: 2\na: x\n'), 'SHA-256'), sha('{"a":"x","b":2}'));
  t.equal(digestFile('a.rego', Buffer.from('x'), 'SHA-512'), createHash('sha512').update('x').digest('hex'));
  t.throws(() => digestFile('a.rego', Buffer.from('x'), 'MD5'), /unsupported/);
  t.throws(() => digestFile('data.json', Buffer.from('{"a":1,}'), 'SHA-256'), /invalid JSON/);
});
