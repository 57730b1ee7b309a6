// `authz-sidecar policy eval`: one evaluation of a compiled bundle, printed
// like `opa eval --format json`; exit 0 evaluated, 1 failed, 2 bad usage/input.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import t from 'tap';
import { policyEvalCommand } from '../../src/policy/index.js';
import { STANDIN_ENTRYPOINTS as EP, bundleTarball, standinWasm, tarGz, tempDir, testSigner, writeBundleDir } from './helpers.js';

async function run(args: string[], stdin?: string): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const code = await policyEvalCommand(args, { stdout, stderr, ...(stdin === undefined ? {} : { stdin: Readable.from([stdin]) }) });
  return { code, out, err };
}

t.test('evaluates a bundle and prints opa eval JSON', async (t) => {
  const root = tempDir(t);
  const bundle = await bundleTarball(root, 'b', {
    wasm: await standinWasm(), manifest: { revision: 'r9' }, files: { 'tenants/data.json': { acme: { regions: ['eu'] } } },
  });
  writeFileSync(join(root, 'read.json'), JSON.stringify({ action: 'read' }));
  writeFileSync(join(root, 'write.json'), JSON.stringify({ action: 'write' }));
  writeFileSync(join(root, 'extra.json'), JSON.stringify({ flags: { beta: true } }));

  let r = await run(['eval', '--bundle', bundle, '--input', join(root, 'read.json'), '--entrypoint', EP.allow]);
  t.equal(r.code, 0, r.err);
  t.same(JSON.parse(r.out), { result: [{ expressions: [{ value: true, text: 'data.standin.allow', location: { row: 1, col: 1 } }] }] });

  r = await run(['--bundle', bundle, '--input', join(root, 'write.json'), '--entrypoint', 'data.standin.allow']);
  t.equal(JSON.parse(r.out).result[0].expressions[0].value, false, 'the answer depends on the input; data.x.y names work');

  r = await run(['eval', '--bundle', bundle, '--data', join(root, 'extra.json'), '--input', join(root, 'read.json'), '--entrypoint', EP.data]);
  t.same(JSON.parse(r.out).result[0].expressions[0].value, { tenants: { acme: { regions: ['eu'] } }, flags: { beta: true } },
    '--data is merged over the bundle data');

  r = await run(['eval', '--bundle', bundle, '--input', join(root, 'read.json'), '--entrypoint', EP.undefined]);
  t.same(JSON.parse(r.out), {}, 'undefined prints {} like opa eval');

  r = await run(['eval', '--bundle', bundle, '--input', '-', '--entrypoint', EP.decision, '--decision'], '{"action":"write"}');
  t.equal(r.code, 0, r.err);
  t.same(JSON.parse(r.out), {
    revision: 'r9', entrypoint: EP.decision,
    decision: { allowed: false, status: 429, reason: 'not_readable', headers: { 'retry-after': '7' }, body: 'nope' },
  }, '--decision prints what the stage would decide; input from stdin');

  r = await run(['eval', '--bundle', bundle, '--input', join(root, 'read.json'), '--entrypoint', EP.garbage, '--decision']);
  t.match(JSON.parse(r.out).decision, { allowed: false, reason: 'policy_error' });

  r = await run(['eval', '--bundle', bundle, '--input', join(root, 'read.json'), '--entrypoint', EP.trap]);
  t.equal(r.code, 1, 'a trap fails the evaluation');
  t.match(r.err, /evaluation failed \(trap\)/);
});

t.test('plain wasm, directories and signed bundles', async (t) => {
  const root = tempDir(t);
  const wasm = await standinWasm();
  writeFileSync(join(root, 'policy.wasm'), wasm);
  writeFileSync(join(root, 'in.json'), '{"action":"read"}');
  let r = await run(['eval', '--bundle', join(root, 'policy.wasm'), '--input', join(root, 'in.json')]);
  t.equal(r.code, 0, r.err);
  t.equal(JSON.parse(r.out).result[0].expressions[0].text, 'data.standin.allow', 'the default entrypoint is the first the module exports');

  const dir = writeBundleDir(join(root, 'dir'), { wasm, files: { 'data.json': { d: 1 } } });
  r = await run(['eval', '--bundle', dir, '--input', join(root, 'in.json'), '--entrypoint', EP.data]);
  t.same(JSON.parse(r.out).result[0].expressions[0].value, { d: 1 });

  const signer = await testSigner();
  const signedDir = writeBundleDir(join(root, 'signed'), { wasm, manifest: { revision: 's1' } });
  await signer.sign(signedDir);
  const signed = await tarGz(signedDir, join(root, 'signed.tar.gz'));
  writeFileSync(join(root, 'pub.pem'), signer.publicPem);
  r = await run(['eval', '--bundle', signed, '--input', join(root, 'in.json'), '--verification-key', join(root, 'pub.pem')]);
  t.equal(r.code, 0, r.err);
  r = await run(['eval', '--bundle', signed, '--input', join(root, 'in.json')]);
  t.equal(r.code, 2, 'a signed bundle without a key is refused');
  t.match(r.err, /no verification key/);
});

t.test('bad usage and bad input exit 2 with a reason', async (t) => {
  const root = tempDir(t);
  const bundle = await bundleTarball(root, 'b', { wasm: await standinWasm() });
  writeFileSync(join(root, 'in.json'), '{}');
  writeFileSync(join(root, 'bad.json'), '{nope');
  writeFileSync(join(root, 'list.json'), '[1]');
  writeFileSync(join(root, 'junk.tar.gz'), 'junk');
  const cases: Array<[string[], RegExp]> = [
    [['eval', '--input', join(root, 'in.json')], /--bundle is required/],
    [['eval', '--bundle', bundle], /--input is required/],
    [['eval', '--bundle', bundle, '--input', join(root, 'bad.json')], /not JSON/],
    [['eval', '--bundle', bundle, '--input', join(root, 'missing.json')], /cannot read --input/],
    [['eval', '--bundle', bundle, '--input', join(root, 'in.json'), '--data', join(root, 'list.json')], /--data must hold a JSON object/],
    [['eval', '--bundle', join(root, 'junk.tar.gz'), '--input', join(root, 'in.json')], /cannot load bundle/],
    [['eval', '--bundle', join(root, 'none.tar.gz'), '--input', join(root, 'in.json')], /cannot load bundle/],
    [['eval', '--bundle', bundle, '--input', join(root, 'in.json'), '--entrypoint', 'no/such'], /not in the bundle/],
    [['eval', '--bundle', bundle, '--input', join(root, 'in.json'), '--frobnicate'], /Unknown option/],
  ];
  for (const [args, err] of cases) {
    const r = await run(args);
    t.equal(r.code, 2, args.join(' '));
    t.match(r.err, err);
    t.match(r.err, /usage: authz-sidecar policy eval/);
  }
  const help = await run(['eval', '--help']);
  t.equal(help.code, 0);
  t.match(help.out, /usage/);
});
