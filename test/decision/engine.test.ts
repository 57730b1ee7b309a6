import t from 'tap';
import { runStages } from '../../src/decision/engine.js';
import { createDecisionContext } from '../../src/decision/context.js';
import { StageFailure } from '../../src/decision/stage-failure.js';
import type { Stage, StageResult } from '../../src/decision/types.js';
import { authzRequest, principal, resource } from '../support/principals.js';

const ctx = (deadlineMs = 50) =>
  createDecisionContext({
    decisionId: 'd1', principal: principal(), action: 'read', resource: resource(), route: 'r',
    routeParams: {}, deadline: performance.now() + deadlineMs,
  });
const stage = (name: string, fn: Stage['evaluate']): Stage => ({ name, evaluate: fn });
const allow: StageResult = { kind: 'allow' };
const opts = { allowWhenAllAbstain: false };

t.test('all stages allow: allow, headers merged, synchronously', async (t) => {
  const v = runStages([stage('a', () => ({ kind: 'allow', headers: { x: '1' } })), stage('b', () => allow)],
    authzRequest(), ctx(), opts);
  t.notOk(v instanceof Promise, 'sync stages give a sync verdict');
  t.same(v, { kind: 'allow', headers: { x: '1' } });
});

t.test('first deny wins and later stages do not run', async (t) => {
  let ran = false;
  const v = await runStages([
    stage('a', () => ({ kind: 'deny', status: 403, reason: 'nope' })),
    stage('b', () => { ran = true; return allow; }),
  ], authzRequest(), ctx(), opts);
  t.match(v, { kind: 'deny', status: 403, reason: 'nope', stage: 'a' });
  t.notOk(ran);
});

t.test('a throwing stage denies, never allows', async (t) => {
  const v = await runStages([stage('boom', () => { throw new Error('x'); })], authzRequest(), ctx(), opts);
  t.match(v, { kind: 'deny', status: 503, reason: 'stage_error', stage: 'boom' });
  const f = await runStages([stage('fga', () => { throw new StageFailure('rebac_unavailable'); })], authzRequest(), ctx(), opts);
  t.match(f, { kind: 'deny', status: 503, reason: 'rebac_unavailable' });
});

t.test('a rejected promise denies', async (t) => {
  const v = await runStages([stage('a', () => Promise.reject(new Error('down')))], authzRequest(), ctx(), opts);
  t.match(v, { kind: 'deny', status: 503, reason: 'stage_error' });
});

t.test('a stage slower than the deadline denies deadline_exceeded', async (t) => {
  const slow = stage('slow', () => new Promise<StageResult>((r) => setTimeout(() => r(allow), 200)));
  const v = await runStages([slow], authzRequest(), ctx(20), opts);
  t.match(v, { kind: 'deny', status: 503, reason: 'deadline_exceeded', stage: 'slow' });
});

t.test('an async stage followed by sync stages keeps order and denies on later deny', async (t) => {
  const order: string[] = [];
  const v = await runStages([
    stage('a', async () => { order.push('a'); return allow; }),
    stage('b', () => { order.push('b'); return { kind: 'deny', status: 429, reason: 'budget_exhausted' }; }),
  ], authzRequest(), ctx(), opts);
  t.same(order, ['a', 'b']);
  t.match(v, { kind: 'deny', status: 429, reason: 'budget_exhausted', stage: 'b' });
});

t.test('all abstain denies no_decision unless the route asked for no stages', async (t) => {
  const abstain = stage('a', () => ({ kind: 'abstain' }));
  t.match(await runStages([abstain], authzRequest(), ctx(), opts), { kind: 'deny', reason: 'no_decision' });
  t.match(await runStages([], authzRequest(), ctx(), { allowWhenAllAbstain: true }), { kind: 'allow' });
});

t.test('a malformed stage result denies', async (t) => {
  const bad = stage('bad', () => ({ kind: 'maybe' }) as unknown as StageResult);
  t.match(await runStages([bad], authzRequest(), ctx(), opts), { kind: 'deny', reason: 'stage_error' });
});
