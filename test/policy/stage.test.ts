// The policy stage through the capability, against the stand-in policy
// module: every result shape, fail-closed on trap / memory / bad result /
// deadline, the revision annotation, data merge, smoke tests and readiness.
import { join } from 'node:path';
import t from 'tap';
import { runStages } from '../../src/decision/engine.js';
import type { StageResult } from '../../src/decision/types.js';
import { authzRequest } from '../support/principals.js';
import {
  STANDIN_ENTRYPOINTS as EP,
  bundleTarball,
  capabilityUnderTest,
  decisionContext,
  metricValue,
  policyStage,
  standinWasm,
  tempDir,
} from './helpers.js';

async function standinBundle(t: Parameters<typeof tempDir>[0], revision = 'r1', data: Record<string, unknown> = {}): Promise<string> {
  const root = tempDir(t);
  return bundleTarball(root, 'bundle', {
    wasm: await standinWasm(),
    manifest: { revision, wasm: [{ entrypoint: EP.allow, module: '/policy.wasm' }] },
    files: { 'tenants/data.json': { acme: { regions: ['eu-west-1'] }, globex: { regions: ['us-east-1'] } }, ...data },
  });
}

function evaluate(stage: ReturnType<typeof policyStage>, action: string, deadlineMs = 1000) {
  const ctx = decisionContext(action, deadlineMs);
  const result = stage.evaluate(authzRequest(), ctx) as StageResult;
  return { result, ctx };
}

t.test('result shapes through the stage', async (t) => {
  const file = await standinBundle(t);
  const { cap, registry } = capabilityUnderTest(t, { bundle: { file, watch_interval_ms: 0 } });
  t.notOk(cap.isReady(), 'not ready before the first bundle');
  await cap.ready();
  t.ok(cap.isReady());
  t.equal(cap.revision(), 'r1');

  const byDefault = policyStage(cap);
  let r = evaluate(byDefault, 'read');
  t.same(r.result, { kind: 'allow' }, 'boolean true allows (default entrypoint from the manifest)');
  t.equal(r.ctx.annotations.policy_revision, 'r1', 'the revision is on the decision');
  r = evaluate(byDefault, 'write');
  t.same(r.result, { kind: 'deny', status: 403, reason: 'policy_denied' }, 'boolean false denies policy_denied');
  t.equal(r.ctx.annotations.policy_revision, 'r1');

  const decision = policyStage(cap, { entrypoint: 'data.standin.decision' });
  r = evaluate(decision, 'read');
  t.same(r.result, { kind: 'allow', headers: { 'x-standin': 'yes' }, responseHeaders: { 'x-standin-resp': '1' } },
    'object allow: upstream headers, and response_headers_to_add for the client');
  r = evaluate(decision, 'write');
  t.same(r.result, { kind: 'deny', status: 429, reason: 'not_readable', headers: { 'retry-after': '7' }, body: 'nope' },
    'object deny: status, sanitized reason, headers, body');

  for (const [ep, kind] of [[EP.garbage, 'bad_result'], [EP.undefined, 'bad_result'], [EP.trap, 'trap'], [EP.grow, 'memory']] as const) {
    const stage = policyStage(cap, { entrypoint: ep });
    r = evaluate(stage, 'read');
    t.same(r.result, { kind: 'deny', status: 503, reason: 'policy_error' }, `${ep} fails closed`);
    t.ok((await metricValue(registry, 'authz_policy_evaluation_failures_total', { kind })) >= 1, `counted as ${kind}`);
    t.same(evaluate(byDefault, 'read').result, { kind: 'allow' }, `and the policy keeps serving after ${ep}`);
  }

  t.throws(() => policyStage(cap, { entrypoint: 'no/such/rule' }), /not in the loaded bundle/, 'a route naming a missing entrypoint is a config error');
  t.throws(() => policyStage(cap, { entrypoint: 1 }), /options/);
  t.throws(() => policyStage(cap, { entry: 'x' }), /options/);
});

t.test('a result after the deadline is not used', async (t) => {
  const file = await standinBundle(t);
  const ctx = decisionContext('read', 1000);
  // An injected clock reads "before the deadline" going in and "after it"
  // coming out: the evaluation ran long, so its allow must not count.
  let calls = 0;
  const { cap: slow } = capabilityUnderTest(t, { bundle: { file, watch_interval_ms: 0 } }, {
    now: () => (calls++ === 0 ? ctx.deadline - 1 : ctx.deadline + 1),
  });
  await slow.ready();
  t.same(policyStage(slow).evaluate(authzRequest(), ctx), { kind: 'deny', status: 503, reason: 'deadline_exceeded' });
  t.equal(calls, 2, 'the clock was read before and after evaluating');

  const { cap: late } = capabilityUnderTest(t, { bundle: { file, watch_interval_ms: 0 } }, { now: () => ctx.deadline + 5 });
  await late.ready();
  t.same(policyStage(late).evaluate(authzRequest(), ctx), { kind: 'deny', status: 503, reason: 'deadline_exceeded' },
    'already late: not evaluated');
});

t.test('fail-closed inside the engine', async (t) => {
  const file = await standinBundle(t);
  const { cap } = capabilityUnderTest(t, { bundle: { file, watch_interval_ms: 0 } });
  await cap.ready();
  const verdict = await runStages([policyStage(cap, { entrypoint: EP.trap })], authzRequest(), decisionContext('read'), {
    allowWhenAllAbstain: false,
  });
  t.match(verdict, { kind: 'deny', status: 503, reason: 'policy_error', stage: 'policy' });
});

t.test('bundle data and config data are merged; config wins on conflicts', async (t) => {
  const file = await standinBundle(t, 'r1', { 'flags/data.json': { beta: false, keep: 1 } });
  const { cap } = capabilityUnderTest(t, {
    bundle: { file, watch_interval_ms: 0 },
    data: { tenants: { acme: { regions: ['eu-central-1'] }, initech: { regions: ['ap-south-1'] } }, flags: { beta: true } },
  });
  await cap.ready();
  const ev = cap.current!.evaluator;
  t.same(ev.evaluate(ev.entrypointId(EP.data)!, {}), [{
    result: {
      tenants: { acme: { regions: ['eu-central-1'] }, globex: { regions: ['us-east-1'] }, initech: { regions: ['ap-south-1'] } },
      flags: { beta: true, keep: 1 },
    },
  }]);
});

t.test('smoke evaluation refuses a bundle that cannot decide', async (t) => {
  const file = await standinBundle(t);
  const trap = capabilityUnderTest(t, { bundle: { file, watch_interval_ms: 0 }, smoke: { entrypoints: [EP.allow, EP.trap] } });
  await t.rejects(trap.cap.ready(), /smoke evaluation of standin\/trap failed/);
  t.notOk(trap.cap.isReady());
  const garbage = capabilityUnderTest(t, { bundle: { file, watch_interval_ms: 0 }, entrypoint: EP.garbage });
  await t.rejects(garbage.cap.ready(), /gave no decision/);
  t.equal(await metricValue(garbage.registry, 'authz_policy_bundle_loads_total', { outcome: 'failure' }), 1);
  const missing = capabilityUnderTest(t, { bundle: { file, watch_interval_ms: 0 }, entrypoint: 'authz/allow' });
  await t.rejects(missing.cap.ready(), /entrypoint "authz\/allow" is not in the bundle/);
  const custom = capabilityUnderTest(t, {
    bundle: { file, watch_interval_ms: 0 }, smoke: { input: { action: 'read' }, entrypoints: [EP.decision] },
  });
  await custom.cap.ready();
  t.equal(custom.cap.revision(), 'r1', 'a configured smoke input and entrypoint');
});

t.test('before any bundle: not ready, and the stage denies policy_unavailable', async (t) => {
  const root = tempDir(t);
  const { cap } = capabilityUnderTest(t, { bundle: { file: join(root, 'missing.tar.gz'), watch_interval_ms: 0 } });
  await t.rejects(cap.ready(), /missing\.tar\.gz/);
  t.notOk(cap.isReady());
  t.equal(cap.revision(), undefined);
  t.same(evaluate(policyStage(cap), 'read').result, { kind: 'deny', status: 503, reason: 'policy_unavailable' });
});

t.test('config errors name the path', async (t) => {
  const { newCapability } = await import('./helpers.js');
  t.throws(() => newCapability({}), /policy\.bundle/);
  t.throws(() => newCapability({ bundle: { file: 'a', url: 'http://x/b' } }), /exactly one of file, dir or url/);
  t.throws(() => newCapability({ bundle: { url: 'ftp://x/b' } }), /policy\.bundle\.url/);
  t.throws(() => newCapability({ bundle: { file: 'a' }, memory: { initial_pages: 10, max_pages: 5 } }), /initial_pages/);
  t.throws(() => newCapability({ bundle: { file: 'a' }, bogus: 1 }), /policy/);
});
