// Assembles the stand-in policy module (standin.wat, a hand-written
// imitation of OPA's policy ABI — NOT a compiled Rego policy) into bytes with
// the wabt package. Nothing is written to disk unless a test asks for it, and
// then only into a temporary directory; no .wasm is ever committed.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import wabt from 'wabt';

const SOURCE = fileURLToPath(new URL('./standin.wat', import.meta.url));

export interface StandinOptions {
  /** OPA policy ABI minor version the module declares: 2 (default) uses opa-wasm's opa_eval fast path, 1 the eval-context path. */
  readonly abiMinor?: 1 | 2;
}

/** Entrypoint names and ids the stand-in exports (see standin.wat). */
export const STANDIN_ENTRYPOINTS = {
  allow: 'standin/allow',
  decision: 'standin/decision',
  garbage: 'standin/garbage',
  trap: 'standin/trap',
  grow: 'standin/grow',
  data: 'standin/data',
  input: 'standin/input',
  undefined: 'standin/undefined',
} as const;

const cache = new Map<number, Uint8Array>();

export async function standinWasm(opts: StandinOptions = {}): Promise<Uint8Array> {
  const minor = opts.abiMinor ?? 2;
  const hit = cache.get(minor);
  if (hit) return hit;
  let text = readFileSync(SOURCE, 'utf8');
  if (minor !== 2) {
    const before = text;
    text = text.replace(
      '(global (export "opa_wasm_abi_minor_version") i32 (i32.const 2))',
      `(global (export "opa_wasm_abi_minor_version") i32 (i32.const ${minor}))`,
    );
    if (text === before) throw new Error('standin.wat: ABI minor version global not found');
  }
  const w = await wabt();
  const mod = w.parseWat('standin.wat', text);
  try {
    mod.validate();
    const bytes = mod.toBinary({}).buffer;
    const copy = new Uint8Array(bytes);
    cache.set(minor, copy);
    return copy;
  } finally {
    mod.destroy();
  }
}
