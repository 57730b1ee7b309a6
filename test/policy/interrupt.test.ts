// Policies that never terminate (issue 10): the module is instrumented
// before loading (src/policy/wasm/instrument.ts), so a loop is stopped at the
// deadline it runs under — load_timeout_ms while loading, the smoke timeout
// before activation, the decision's deadline for a request — and the
// evaluator keeps serving from a fresh instance. The looping modules are
// variants of the stand-in assembled at test time (no .wasm is committed).
import t from 'tap';
import { join } from 'node:path';
import { PolicyEvalError, PolicyEvaluator } from '../../src/policy/evaluator.js';
import { Wasm } from '../../src/policy/wasm-api.js';
import { instrumentForInterrupts } from '../../src/policy/wasm/instrument.js';
import { capabilityUnderTest, metricValue, STANDIN_ENTRYPOINTS as EP, standinWasm, tempDir, until, writeBundleDir } from './helpers.js';

const limits = { initialPages: 5, maxPages: 64, loadTimeoutMs: 200 };
const validate = (b: Uint8Array): boolean => Wasm.validate(b);

t.test('the instrumented stand-in is a valid module that answers as before', async (t) => {
  const wasm = await standinWasm();
  const out = instrumentForInterrupts(wasm, validate);
  t.ok(Wasm.validate(out), 'validates');
  t.ok(out.length > wasm.length, 'counting code was added');
  t.throws(() => instrumentForInterrupts(Uint8Array.of(0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0x0a, 0x01), validate), /not a valid/);
});

for (const abiMinor of [2, 1] as const) {
  t.test(`ABI 1.${abiMinor}: a loop on some inputs is stopped at the deadline; other inputs are served`, async (t) => {
    const ev = await PolicyEvaluator.create(await standinWasm({ abiMinor, spin: 'input' }), {}, limits);
    const allow = ev.entrypointId(EP.allow)!;
    t.same(ev.evaluate(allow, { action: 'read' }, performance.now() + 1000), [{ result: true }]);
    const err = t.throws(() => ev.evaluate(allow, { action: 'spin' }, performance.now() + 20)) as unknown;
    t.ok(err instanceof PolicyEvalError && err.kind === 'timeout', `stopped as a timeout (${(err as Error).message})`);
    t.same(ev.evaluate(allow, { action: 'read' }, performance.now() + 1000), [{ result: true }], 'a fresh instance serves afterwards');
    t.same(ev.evaluate(allow, { action: 'write' }, performance.now() + 1000), [{ result: false }]);
  });
}

t.test('a module that loops when instantiated does not load', async (t) => {
  await t.rejects(PolicyEvaluator.create(await standinWasm({ spin: 'instantiate' }), {}, limits), /does not load: it ran past its load-time instruction budget/);
});

t.test('a module that loops while loading its data stops at load_timeout_ms', async (t) => {
  await t.rejects(PolicyEvaluator.create(await standinWasm({ spin: 'data' }), { spin: true }, limits), /load_timeout_ms \(200 ms\)/);
  const ev = await PolicyEvaluator.create(await standinWasm({ spin: 'data' }), { other: 1 }, limits);
  t.same(ev.evaluate(ev.entrypointId(EP.data)!, {}), [{ result: { other: 1 } }], 'the same module with other data loads');
});

t.test('a module that loops on every evaluation is stopped each time', async (t) => {
  const ev = await PolicyEvaluator.create(await standinWasm({ spin: 'always' }), {}, limits);
  for (let i = 0; i < 3; i++) {
    const err = t.throws(() => ev.evaluate(ev.entrypointId(EP.allow)!, {}, performance.now() + 10)) as unknown;
    t.ok(err instanceof PolicyEvalError && err.kind === 'timeout');
  }
});

t.test('bundles that loop at load or on every evaluation are never activated; the last good one keeps serving', async (t) => {
  const root = tempDir(t);
  const dir = writeBundleDir(join(root, 'bundle'), { wasm: await standinWasm(), manifest: { revision: 'good' } });
  const { cap, registry } = capabilityUnderTest(t, { bundle: { dir, watch_interval_ms: 20 }, load_timeout_ms: 200, smoke: { timeout_ms: 50 } });
  await cap.ready();
  t.equal(cap.revision(), 'good');
  let failures = 0;
  for (const [spin, revision] of [['instantiate', 'spins-at-load'], ['always', 'spins-always']] as const) {
    writeBundleDir(dir, { wasm: await standinWasm({ spin }), manifest: { revision } });
    await until(async () => (await metricValue(registry, 'authz_policy_bundle_loads_total', { outcome: 'failure' })) > failures,
      10_000, `the ${revision} bundle to be refused`);
    failures++;
    t.equal(cap.revision(), 'good', `${revision} is refused, the last good bundle stays`);
    const ev = cap.current!.evaluator;
    t.same(ev.evaluate(ev.entrypointId(EP.allow)!, { action: 'read' }, performance.now() + 1000), [{ result: true }]);
  }
});

t.test('instrumentation keeps a module with many instruction kinds valid and its answers unchanged', async (t) => {
  const wabt = await (await import('wabt')).default();
  const wat = `(module
    (type $v (func (result i32)))
    (memory (export "memory") 1)
    (table 2 funcref)
    (elem (i32.const 0) $seven $eight)
    (global $g (mut i64) (i64.const -5))
    (func $seven (result i32) (i32.const 7))
    (func $eight (result i32) (i32.const 8))
    (func (export "run") (param $n i32) (result i32)
      (local $acc i32) (local $f f64)
      (local.set $f (f64.const 1.5))
      (memory.fill (i32.const 0) (i32.const 1) (i32.const 16))
      (block $out
        (loop $again
          (br_if $out (i32.eqz (local.get $n)))
          (block $b2 (block $b1 (block $b0
            (br_table $b0 $b1 $b2 (i32.rem_u (local.get $n) (i32.const 3))))
            (local.set $acc (i32.add (local.get $acc) (call_indirect (type $v) (i32.const 0))))
            (br $b2))
            (local.set $acc (i32.add (local.get $acc) (call_indirect (type $v) (i32.const 1)))))
          (local.set $acc (i32.add (local.get $acc) (i32.extend8_s (i32.load8_u (i32.const 3)))))
          (global.set $g (i64.add (global.get $g) (i64.const 1)))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br $again)))
      (i32.add (local.get $acc)
        (select (result i32) (i32.trunc_sat_f64_s (local.get $f)) (i32.wrap_i64 (global.get $g)) (i32.const 1))))
  )`;
  const mod = wabt.parseWat('kinds.wat', wat, { bulk_memory: true, reference_types: true, sat_float_to_int: true, sign_extension: true });
  const original = new Uint8Array(mod.toBinary({}).buffer);
  mod.destroy();
  const instrumented = instrumentForInterrupts(original, validate);
  t.ok(Wasm.validate(instrumented), 'still valid');
  const run = (bytes: Uint8Array): number => {
    const inst = new Wasm.Instance(new Wasm.Module(bytes), {}) as { exports: { run(n: number): number } };
    return inst.exports.run(10);
  };
  t.equal(run(instrumented), run(original), 'same answer');
});
