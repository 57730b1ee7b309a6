// Builds the policy bundle the policy scenarios load: the test stand-in
// module (test/support/opa-standin/standin.wat, hand-written WebAssembly
// implementing OPA's policy ABI — NOT a compiled Rego policy; no `opa` binary
// can be installed here) assembled with wabt, packed with a .manifest into
// OPA's bundle .tar.gz format.
//
// Run as a child — it imports TypeScript, hence tsx:
//   node --import tsx bench/lib/policy-bundle.ts OUT.tar.gz
// Writes OUT.tar.gz (under bench/out/, git-ignored: no .wasm or tarball is
// ever committed) and prints {"file":..., "bytes":N} on stdout.
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { create as createTar } from 'tar';
import { STANDIN_ENTRYPOINTS, standinWasm } from '../../test/support/opa-standin/assemble.js';

async function main(): Promise<void> {
  const out = process.argv[2];
  if (out === undefined || !out.endsWith('.tar.gz')) throw new Error('usage: policy-bundle.ts OUT.tar.gz');
  const file = path.resolve(out);
  const dir = `${file.slice(0, -'.tar.gz'.length)}.d`;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'policy.wasm'), await standinWasm());
  const manifest = {
    revision: 'bench-standin',
    roots: ['standin'],
    wasm: [{ entrypoint: STANDIN_ENTRYPOINTS.allow, module: '/policy.wasm' }],
  };
  writeFileSync(path.join(dir, '.manifest'), JSON.stringify(manifest));
  await createTar({ gzip: true, file, cwd: dir, portable: true }, ['.manifest', 'policy.wasm']);
  rmSync(dir, { recursive: true, force: true });
  process.stdout.write(`${JSON.stringify({ file, bytes: statSync(file).size })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`policy-bundle: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
