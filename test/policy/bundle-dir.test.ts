// Bundle directories (issue 10): walked within max_files / max_bytes,
// following no directory link (a loop `a -> .` used to be walked without
// bound on every watch tick), reading file links only inside the bundle (the
// way Kubernetes mounts ConfigMaps), and walked again only when a watched
// directory changed.
import t from 'tap';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readBundleDir } from '../../src/policy/bundle/files.js';
import { capabilityUnderTest, metricValue, standinWasm, tempDir, until, writeBundleDir } from './helpers.js';

const MAX = 64 * 1024 * 1024;

t.test('a symlink loop is not followed: the bundle loads, and a quiet directory is not walked again', async (t) => {
  const root = tempDir(t);
  const dir = writeBundleDir(join(root, 'bundle'), { wasm: await standinWasm(), manifest: { revision: 'r1' }, files: { 'data.json': { v: 1 } } });
  symlinkSync('.', join(dir, 'a'));
  symlinkSync('..', join(dir, 'up'));
  const { cap, registry } = capabilityUnderTest(t, { bundle: { dir, watch_interval_ms: 20 } });
  await cap.ready();
  t.equal(cap.revision(), 'r1');
  const walks = () => metricValue(registry, 'authz_policy_bundle_dir_walks_total');
  const afterLoad = await walks();
  // ~15 watch ticks with nothing changing (an absence, so it needs a window).
  await new Promise((r) => setTimeout(r, 300));
  t.equal(await walks(), afterLoad, 'no walk while nothing changed');

  writeBundleDir(dir, { wasm: await standinWasm(), manifest: { revision: 'r2' } });
  await until(() => cap.revision() === 'r2', 5000, 'the change to be picked up');
  t.ok((await walks()) > afterLoad, 'a change is walked');
});

t.test('caps: entries, bytes, links outside the bundle', async (t) => {
  const root = tempDir(t);
  const many = writeBundleDir(join(root, 'many'), { wasm: await standinWasm() });
  for (let i = 0; i < 30; i++) writeFileSync(join(many, `f${i}.txt`), 'x');
  await t.rejects(readBundleDir(many, MAX, 20), /more than max_files \(20\) entries/);
  t.equal((await readBundleDir(many, MAX, 100)).size, 31, 'within the cap it reads');

  await t.rejects(readBundleDir(many, 1000), /more than max_bytes \(1000\)/);

  const outside = join(root, 'secret.json');
  writeFileSync(outside, '{"secret":1}');
  const leaky = writeBundleDir(join(root, 'leaky'), { wasm: await standinWasm() });
  symlinkSync(outside, join(leaky, 'data.json'));
  await t.rejects(readBundleDir(leaky, MAX), /data\.json links outside the bundle directory/);
});

t.test('a ConfigMap-style layout (file links into ..data) is read once per file', async (t) => {
  const root = tempDir(t);
  const dir = join(root, 'cm');
  const stamp = join(dir, '..2026_12_01_00_00_00.1');
  mkdirSync(stamp, { recursive: true });
  writeFileSync(join(stamp, 'policy.wasm'), await standinWasm());
  writeFileSync(join(stamp, 'data.json'), '{"v":1}');
  symlinkSync('..2026_12_01_00_00_00.1', join(dir, '..data'));
  symlinkSync('..data/policy.wasm', join(dir, 'policy.wasm'));
  symlinkSync('..data/data.json', join(dir, 'data.json'));
  const files = await readBundleDir(dir, MAX);
  t.same([...files.keys()].sort(), ['data.json', 'policy.wasm']);
  t.equal(Buffer.from(files.get('data.json')!).toString(), '{"v":1}');
});
