// In-process evaluation through @open-policy-agent/opa-wasm against the
// stand-in policy module (hand-written WAT implementing OPA's policy ABI; see
// test/support/opa-standin/). Both ABI paths opa-wasm has are exercised.
import t from 'tap';
import { PolicyEvalError, PolicyEvaluator } from '../../src/policy/evaluator.js';
import { STANDIN_ENTRYPOINTS as EP, standinWasm } from './helpers.js';

const memory = { initialPages: 5, maxPages: 64 };

for (const abiMinor of [2, 1] as const) {
  t.test(`ABI 1.${abiMinor}`, async (t) => {
    const ev = await PolicyEvaluator.create(await standinWasm({ abiMinor }), { tenants: { acme: { regions: ['eu'] } } }, memory);
    const id = (name: string): number => ev.entrypointId(name)!;
    t.same([...ev.entrypoints.keys()].sort(), Object.values(EP).sort());

    t.same(ev.evaluate(id(EP.allow), { action: 'read' }), [{ result: true }], 'the answer depends on the input');
    t.same(ev.evaluate(id(EP.allow), { action: 'write' }), [{ result: false }]);
    t.same(ev.evaluate(id(EP.data), {}), [{ result: { tenants: { acme: { regions: ['eu'] } } } }], 'data reaches the policy');
    t.same(ev.evaluate(id(EP.input), { a: [1, 'x'] }), [{ result: { a: [1, 'x'] } }], 'input reaches the policy intact');

    const trap = t.throws(() => ev.evaluate(id(EP.trap), {})) as unknown;
    t.ok(trap instanceof PolicyEvalError && trap.kind === 'trap', 'unreachable is a trap');
    t.same(ev.evaluate(id(EP.allow), { action: 'read' }), [{ result: true }], 'a fresh instance serves after a trap');

    const grow = t.throws(() => ev.evaluate(id(EP.grow), {})) as unknown;
    t.ok(grow instanceof PolicyEvalError && grow.kind === 'memory', 'growth past max_pages is refused');
    t.same(ev.evaluate(id(EP.allow), { action: 'read' }), [{ result: true }], 'and it serves afterwards');

    const huge = t.throws(() => ev.evaluate(id(EP.allow), { blob: 'x'.repeat(64 * 65536) })) as unknown;
    t.ok(huge instanceof PolicyEvalError && huge.kind === 'memory', 'an input larger than the cap is refused');
    t.same(ev.evaluate(id(EP.allow), { action: 'read' }), [{ result: true }]);

    const abort = t.throws(() => ev.evaluate(99, {})) as unknown;
    t.ok(abort instanceof PolicyEvalError && abort.kind === 'abort', 'opa_abort is reported');

    // The same through the JSON text path the policy stage uses (written into the module's memory on ABI 1.2).
    t.same(ev.evaluateJson(id(EP.allow), '{"action":"read"}'), [{ result: true }], 'text input: the answer depends on it');
    t.same(ev.evaluateJson(id(EP.allow), '{"action":"write"}'), [{ result: false }]);
    t.same(ev.evaluateJson(id(EP.input), '{"s":"€ 😀"}'), [{ result: { s: '€ 😀' } }], 'text input reaches the policy intact (UTF-8)');
    const jsonTrap = t.throws(() => ev.evaluateJson(id(EP.trap), '{}')) as unknown;
    t.ok(jsonTrap instanceof PolicyEvalError && jsonTrap.kind === 'trap', 'text input: a trap');
    t.same(ev.evaluateJson(id(EP.allow), '{"action":"read"}'), [{ result: true }], 'a fresh instance serves the text path after a trap');
    const jsonGrow = t.throws(() => ev.evaluateJson(id(EP.grow), '{}')) as unknown;
    t.ok(jsonGrow instanceof PolicyEvalError && jsonGrow.kind === 'memory', 'text input: growth past max_pages is refused');
    const jsonHuge = t.throws(() => ev.evaluateJson(id(EP.allow), `{"blob":"${'x'.repeat(64 * 65536)}"}`)) as unknown;
    t.ok(jsonHuge instanceof PolicyEvalError && jsonHuge.kind === 'memory', 'text input larger than the cap is refused');
    t.same(ev.evaluateJson(id(EP.input), `{"big":"${'y'.repeat(3 * 65536)}"}`), [{ result: { big: 'y'.repeat(3 * 65536) } }],
      'an input that needs the memory to grow (within the cap) is read whole');
    t.same(ev.evaluateJson(id(EP.allow), '{"action":"read"}'), [{ result: true }], 'and it serves afterwards');
    const jsonAbort = t.throws(() => ev.evaluateJson(99, '{}')) as unknown;
    t.ok(jsonAbort instanceof PolicyEvalError && jsonAbort.kind === 'abort', 'text input: opa_abort is reported');
  });
}

t.test('data too large for the memory cap fails at load, with the reason', async (t) => {
  const big = { blob: 'x'.repeat(3 * 65536) };
  await t.rejects(PolicyEvaluator.create(await standinWasm(), big, { initialPages: 2, maxPages: 3 }), /max_pages/);
});

t.test('bytes that are not WebAssembly do not compile', async (t) => {
  await t.rejects(PolicyEvaluator.create(new Uint8Array([0, 0x61, 0x73, 0x6d, 9, 9]), {}, memory), /does not compile/);
});
