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
  /**
   * A hostile variant that never terminates (issue 10):
   * - `instantiate`: a start function that loops, so instantiating never returns;
   * - `data`: opa_json_parse loops when the text holds `"spin":true` (loading such data never returns);
   * - `always`: every evaluation loops;
   * - `input`: an evaluation loops when the input holds `"action":"spin"`, and answers normally otherwise.
   */
  readonly spin?: 'instantiate' | 'data' | 'always' | 'input';
}

const SPIN = '(loop $spin (br $spin))';
const SPIN_DATA = '(data (i32.const 5376) "\\"action\\":\\"spin\\"\\00") (data (i32.const 5632) "\\"spin\\":true\\00")';

/** Text edits that make each looping variant; each names a line of standin.wat that must exist. */
const SPIN_EDITS: Record<NonNullable<StandinOptions['spin']>, Array<[string, string]>> = {
  instantiate: [[')\n(;END;)', `  (func $spin_at_start ${SPIN})\n  (start $spin_at_start)\n)\n(;END;)`]],
  data: [[
    '  (func $parse (export "opa_json_parse") (param $ptr i32) (param $len i32) (result i32)\n',
    '  (func $parse (export "opa_json_parse") (param $ptr i32) (param $len i32) (result i32)\n' +
      `    (if (call $contains (call $box (local.get $ptr) (local.get $len)) (i32.const 5632)) (then ${SPIN}))\n`,
  ]],
  always: [['  (func $decide (param $ep i32) (param $input i32) (param $data i32) (result i32)\n',
    `  (func $decide (param $ep i32) (param $input i32) (param $data i32) (result i32)\n    ${SPIN}\n`]],
  input: [['  (func $decide (param $ep i32) (param $input i32) (param $data i32) (result i32)\n',
    '  (func $decide (param $ep i32) (param $input i32) (param $data i32) (result i32)\n' +
      `    (if (call $contains (local.get $input) (i32.const 5376)) (then ${SPIN}))\n`]],
};

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

const cache = new Map<string, Uint8Array>();

export async function standinWasm(opts: StandinOptions = {}): Promise<Uint8Array> {
  const minor = opts.abiMinor ?? 2;
  const key = `${minor}:${opts.spin ?? ''}`;
  const hit = cache.get(key);
  if (hit) return hit;
  let text = readFileSync(SOURCE, 'utf8');
  if (opts.spin !== undefined) {
    text = `${text.trimEnd()}\n(;END;)`;
    for (const [from, to] of SPIN_EDITS[opts.spin]) {
      if (!text.includes(from)) throw new Error(`standin.wat: no ${JSON.stringify(from)} to make the ${opts.spin} variant from`);
      text = text.replace(from, to);
    }
    text = text.replace('(data (i32.const 5120)', `${SPIN_DATA}\n  (data (i32.const 5120)`);
  }
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
    cache.set(key, copy);
    return copy;
  } finally {
    mod.destroy();
  }
}
