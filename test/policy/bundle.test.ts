// OPA's bundle format: tarballs, directories, plain wasm; data placement,
// manifest revision and roots; refusals for what is not a usable bundle.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import t from 'tap';
import { readBundleDir } from '../../src/policy/bundle/files.js';
import { parseBundleBytes, parseBundleFiles } from '../../src/policy/bundle/parse.js';
import { bundleTarball, standinWasm, tempDir, writeBundleDir } from './helpers.js';

const MAX = 16 * 1024 * 1024;

t.test('a tarball: wasm, data files at their paths, manifest revision', async (t) => {
  const root = tempDir(t);
  const wasm = await standinWasm();
  const file = await bundleTarball(root, 'b', {
    wasm,
    manifest: { revision: 'rev-42', roots: ['tenants', 'models', 'global'], wasm: [{ entrypoint: 'standin/allow', module: '/policy.wasm' }] },
    files: {
      'tenants/data.json': { acme: { regions: ['eu-west-1'] } },
      'models/risk/data.yaml': 'high:\n  - m1\n',
      'global/data.json': { x: 1 },
      'authz/allow.rego': 'package authz\n',
    },
  });
  const b = await parseBundleBytes(readFileSync(file), undefined, MAX);
  t.equal(b.revision, 'rev-42');
  t.same(b.manifest?.wasmEntrypoints, ['standin/allow']);
  t.same(b.data, { tenants: { acme: { regions: ['eu-west-1'] } }, models: { risk: { high: ['m1'] } }, global: { x: 1 } });
  t.same(Buffer.from(b.wasm), Buffer.from(wasm));
});

t.test('a directory bundle and a plain policy.wasm', async (t) => {
  const root = tempDir(t);
  const wasm = await standinWasm();
  const dir = writeBundleDir(join(root, 'dir'), { wasm, files: { 'data.json': { a: 1 }, 'x/data.json': { b: 2 } } });
  const b = await parseBundleFiles(await readBundleDir(dir, MAX), undefined);
  t.same(b.data, { a: 1, x: { b: 2 } });
  t.match(b.revision, /^sha256:[0-9a-f]{16}$/, 'no manifest: a content revision');
  const again = await parseBundleFiles(await readBundleDir(dir, MAX), undefined);
  t.equal(again.revision, b.revision, 'the content revision is stable');

  const plain = await parseBundleBytes(wasm, undefined, MAX);
  t.same(plain.data, {});
  t.match(plain.revision, /^sha256:/);
});

t.test('refusals with a reason', async (t) => {
  const root = tempDir(t);
  const wasm = await standinWasm();
  const cases: Array<[string, Parameters<typeof bundleTarball>[2], RegExp]> = [
    ['no wasm', { wasm, files: {} }, /./],
    ['data outside roots', { wasm, manifest: { roots: ['tenants'] }, files: { 'other/data.json': { x: 1 } } }, /roots .* do not permit data at \/other/],
    ['conflicting data', { wasm, files: { 'data.json': { a: { b: 1 } }, 'a/b/data.json': { c: 1 } } }, /conflicts/],
    ['bad data json', { wasm, files: { 'data.json': '{nope' } }, /data\.json/],
    ['bad manifest', { wasm, files: { '.manifest': '[1]' } }, /\.manifest/],
    ['two wasm modules', { wasm, files: { 'x/policy.wasm': wasm } }, /several wasm modules/],
    ['wasm that is not wasm', { wasm: new TextEncoder().encode('hello'), files: {} }, /not a WebAssembly module/],
  ];
  for (const [name, spec, err] of cases) {
    const file = await bundleTarball(root, name.replaceAll(' ', '-'), spec);
    if (name === 'no wasm') {
      const dir = join(root, 'nowasm');
      writeBundleDir(dir, { wasm, files: { 'data.json': {} } });
      const files = await readBundleDir(dir, MAX);
      files.delete('policy.wasm');
      await t.rejects(parseBundleFiles(files, undefined), /no policy\.wasm/, name);
      continue;
    }
    await t.rejects(parseBundleBytes(readFileSync(file), undefined, MAX), err, name);
  }
  await t.rejects(parseBundleBytes(new TextEncoder().encode('not a bundle at all'), undefined, MAX), /not a bundle/);
  await t.rejects(parseBundleBytes(Buffer.from([0x1f, 0x8b, 1, 2, 3]), undefined, MAX), /gzip/);
});

t.test('a gzip bomb is cut off at max_bytes', async (t) => {
  const root = tempDir(t);
  const file = await bundleTarball(root, 'big', { wasm: await standinWasm(), files: { 'data.json': { blob: 'x'.repeat(2_000_000) } } });
  await t.rejects(parseBundleBytes(readFileSync(file), undefined, 100_000), /max_bytes/);
});

t.test('a tar entry that climbs out of the bundle is refused', async (t) => {
  // A minimal ustar header for "../evil" followed by its content and the end marker.
  const header = Buffer.alloc(512);
  header.write('../evil', 0, 'utf8');
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write('00000000004\0', 124);
  header.write('00000000000\0', 136);
  header.write('0', 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  header.fill(' ', 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const body = Buffer.alloc(512);
  body.write('evil');
  const tar = Buffer.concat([header, body, Buffer.alloc(1024)]);
  const root = tempDir(t);
  writeFileSync(join(root, 'evil.tar.gz'), gzipSync(tar));
  await t.rejects(parseBundleBytes(readFileSync(join(root, 'evil.tar.gz')), undefined, MAX), /leaves the bundle root/);
});
