// Micro-benchmark behind the choice of how a policy evaluation is bounded
// (docs/policy.md, "Bounded evaluation"). Per evaluation of the stand-in's
// `standin/allow` with the synthetic smoke input, wall and process CPU µs:
//   plain         opa-wasm on the uninstrumented module (no bound at all)
//   instrumented  our evaluator: the module counts instructions and checks the clock
//   vm_timeout    plain, called through vm.runInContext({ timeout }) (a watchdog thread per call)
//   worker_sync   plain, in a worker thread; the decision thread hands over the input in a
//                 SharedArrayBuffer and blocks in Atomics.wait for the answer (what a
//                 watchdog-replaced worker pool costs per call, before any pool logic)
// It also reports whether vm's timeout stops a WebAssembly loop at all.
//   node --import tsx bench/policy-interrupt.ts [iterations]
import { createRequire } from 'node:module';
import vm from 'node:vm';
import { Worker } from 'node:worker_threads';
import { syntheticInput } from '../src/policy/activation.js';
import { PolicyEvaluator } from '../src/policy/evaluator.js';
import { Wasm } from '../src/policy/wasm-api.js';
import { standinWasm } from '../test/support/opa-standin/assemble.js';

interface Loaded { evaluate(input: unknown, entrypoint: number): unknown }
const opa = createRequire(import.meta.url)('@open-policy-agent/opa-wasm') as {
  loadPolicySync(m: object, mem: object): Loaded;
};
const N = Number(process.argv[2] ?? 20000);
const input = syntheticInput();
const inputJson = JSON.stringify(input);

function measure(name: string, fn: () => void): void {
  for (let i = 0; i < Math.min(2000, N); i++) fn();
  const rounds: Array<{ wall: number; cpu: number }> = [];
  for (let r = 0; r < 5; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < N; i++) fn();
    const wall = ((performance.now() - t0) * 1000) / N;
    const c = process.cpuUsage(c0);
    rounds.push({ wall, cpu: (c.user + c.system) / N });
  }
  rounds.sort((a, b) => a.wall - b.wall);
  const mid = rounds[2]!;
  console.log(`${name.padEnd(14)} wall ${mid.wall.toFixed(2).padStart(7)} µs/eval   cpu ${mid.cpu.toFixed(2).padStart(7)} µs/eval`);
}

const wasm = await standinWasm();
const plain = opa.loadPolicySync(new Wasm.Module(wasm), { initial: 5, maximum: 512 });
const ours = await PolicyEvaluator.create(wasm, {}, { initialPages: 5, maxPages: 512 });

measure('plain', () => plain.evaluate(input, 0));
measure('instrumented', () => ours.evaluate(0, input, performance.now() + 50));

const ctx = vm.createContext({ run: () => plain.evaluate(input, 0) });
const script = new vm.Script('run()');
measure('vm_timeout', () => script.runInContext(ctx, { timeout: 1000 }));

// Does vm's timeout stop a WebAssembly loop? (uninstrumented, looping on every evaluation)
const spinning = opa.loadPolicySync(new Wasm.Module(await standinWasm({ spin: 'always' })), { initial: 5, maximum: 512 });
const spinCtx = vm.createContext({ run: () => spinning.evaluate(input, 0) });
const t0 = performance.now();
try {
  new vm.Script('run()').runInContext(spinCtx, { timeout: 100 });
  console.log('vm_timeout on a wasm loop: returned?!');
} catch (err) {
  console.log(`vm_timeout on a wasm loop: stopped after ${(performance.now() - t0).toFixed(0)} ms (${(err as { code?: string }).code})`);
}

// worker_sync: [0] state (0 idle, 1 request, 2 answer), [1] length; bytes from offset 8.
const sab = new SharedArrayBuffer(8 + 1 << 20);
const state = new Int32Array(sab, 0, 2);
const bytes = new Uint8Array(sab, 8);
const worker = new Worker(`
  const { workerData } = require('node:worker_threads');
  const opa = require(${JSON.stringify(createRequire(import.meta.url).resolve('@open-policy-agent/opa-wasm'))});
  const { sab, wasm } = workerData;
  const state = new Int32Array(sab, 0, 2);
  const bytes = new Uint8Array(sab, 8);
  const policy = opa.loadPolicySync(new WebAssembly.Module(wasm), { initial: 5, maximum: 512 });
  const dec = new TextDecoder(), enc = new TextEncoder();
  for (;;) {
    Atomics.wait(state, 0, 0);
    const input = bytes.slice(0, state[1]).buffer;
    const out = enc.encode(JSON.stringify(policy.evaluate(input, 0)));
    bytes.set(out, 0);
    state[1] = out.length;
    Atomics.store(state, 0, 2);
    Atomics.notify(state, 0);
    Atomics.wait(state, 0, 2);
  }
`, { eval: true, workerData: { sab, wasm } });
worker.unref();
const enc = new TextEncoder();
const dec = new TextDecoder();
measure('worker_sync', () => {
  const n = enc.encodeInto(JSON.stringify(input), bytes).written;
  state[1] = n;
  Atomics.store(state, 0, 1);
  Atomics.notify(state, 0);
  if (Atomics.wait(state, 0, 1, 1000) === 'timed-out') throw new Error('worker timed out');
  JSON.parse(dec.decode(bytes.slice(0, state[1])));
  Atomics.store(state, 0, 0);
  Atomics.notify(state, 0);
});
console.log(`input ${inputJson.length} bytes, ${N} evaluations per round, median of 5 rounds`);
process.exit(0);
