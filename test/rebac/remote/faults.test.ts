// A misbehaving OpenFGA (misbehaving-fga.ts, a real HTTP server in front of
// fga serve): every bad answer is a bounded, fail-closed deny —
// rebac_unavailable, or rebac_bad_request for a 400 — counted under
// authz_rebac_upstream_errors_total{op,kind}, never cached, and once the
// server behaves again the same pool answers.
import t from 'tap';
import type { Test } from 'tap';
import { buildRemote, decide, eventually, metricValue, startFga } from './harness.js';
import type { Built } from './harness.js';
import { startImpostor } from './misbehaving-fga.js';
import type { Fault, Impostor } from './misbehaving-fga.js';

async function setup(t: Test, remote: Record<string, unknown> = {}): Promise<{ built: Built; bad: Impostor }> {
  const fga = await startFga(t);
  const bad = await startImpostor(t, fga);
  const built = await buildRemote(t, { ...fga, apiUrl: bad.url }, {
    timeout_ms: 2000,
    breaker: { failure_threshold: 1000 },
    changes: { poll_ms: 3_600_000 },
    ...remote,
  });
  return { built, bad };
}

const errors = (b: Built, op: string, kind: string) => metricValue(b.metrics, 'authz_rebac_upstream_errors_total', { op, kind });

const UNAVAILABLE = { kind: 'deny', status: 503, reason: 'rebac_unavailable', stage: 'rebac' };
const single = { relation: 'can_deploy' };
const batch = { checks: [{ relation: 'can_deploy' }, { relation: 'can_read' }] };

for (const [fault, kind] of [['malformed', 'malformed'], ['not_json', 'malformed'], ['redirect', 'redirect']] as Array<[Fault, string]>) {
  t.test(`a ${fault} answer denies rebac_unavailable for Check and BatchCheck alike, and is not cached`, async (t) => {
    const { built, bad } = await setup(t);
    bad.faults.check = fault;
    bad.faults['batch-check'] = fault;
    t.match(await decide(built.stage(single), { user: 'alice' }), UNAVAILABLE, 'Check');
    t.match(await decide(built.stage(batch), { user: 'alice' }), UNAVAILABLE, 'BatchCheck: the same answer (it was a cached 403 rebac_denied)');
    t.equal(await errors(built, 'check', kind), 1);
    t.equal(await errors(built, 'batch_check', kind), 1);
    if (fault === 'redirect') t.equal(bad.redirectedHits(), 0, 'the redirect was not followed (nor our credentials sent there)');

    bad.faults.check = 'pass';
    bad.faults['batch-check'] = 'pass';
    const calls = bad.count('check') + bad.count('batch-check');
    t.match(await decide(built.stage(single), { user: 'alice' }), { kind: 'allow' });
    t.match(await decide(built.stage(batch), { user: 'alice' }), { kind: 'allow' });
    t.equal(bad.count('check') + bad.count('batch-check'), calls + 2, 'asked again: nothing of the bad answers was cached');
  });
}

t.test('an answer over max_response_bytes is cut off at the cap; eight in flight, then the pool recovers', async (t) => {
  const { built, bad } = await setup(t, { max_response_bytes: 64 * 1024 });
  bad.faults.check = 'huge';
  const users = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi'];
  const verdicts = await Promise.all(users.map((user) => decide(built.stage(single), { user, deadlineMs: 5000 })));
  for (const v of verdicts) t.match(v, UNAVAILABLE);
  t.equal(await errors(built, 'check', 'too_large'), 8);
  await eventually(t, 'the server saw all eight responses cut off before their 64 MiB', () => bad.cutOff() === 8);
  bad.faults.check = 'pass';
  t.match(await decide(built.stage(single), { user: 'alice' }), { kind: 'allow' });
});

t.test('a slow-drip answer ends at timeout_ms, not when the server stops', async (t) => {
  const { built, bad } = await setup(t, { timeout_ms: 200 });
  bad.faults.check = 'drip';
  t.match(await decide(built.stage(single), { user: 'alice', deadlineMs: 5000 }), UNAVAILABLE);
  t.equal(await errors(built, 'check', 'timeout'), 1);
  await eventually(t, 'the client closed the dripping response', () => bad.cutOff() === 1);
  bad.faults.check = 'pass';
  t.match(await decide(built.stage(single), { user: 'alice' }), { kind: 'allow' });
});

t.test('a 429 with Retry-After denies at once, without retrying', async (t) => {
  const { built, bad } = await setup(t);
  bad.faults.check = 'rate_limited';
  const v = await decide(built.stage(single), { user: 'alice' });
  t.match(v, UNAVAILABLE);
  t.equal(bad.count('check'), 1, 'one request');
  t.equal(await errors(built, 'check', 'http_429'), 1);
});

t.test('a 400 denies rebac_bad_request and does not count against the breaker', async (t) => {
  const { built, bad } = await setup(t, { breaker: { failure_threshold: 1 } });
  bad.faults.check = 'bad_request';
  t.match(await decide(built.stage(single), { user: 'alice' }), { kind: 'deny', status: 403, reason: 'rebac_bad_request' });
  t.equal(await errors(built, 'check', 'bad_request'), 1);
  bad.faults.check = 'pass';
  t.match(await decide(built.stage(single), { user: 'alice' }), { kind: 'allow' }, 'breaker still closed');
});

t.test('keep-alive sockets the server half-closes: never an allow on error, and the pool reconnects', async (t) => {
  const { built, bad } = await setup(t);
  bad.faults.check = 'half_close';
  const outcomes = new Set<string>();
  for (const user of ['alice', 'bob', 'carol', 'dave', 'erin']) {
    const v = await decide(built.stage({ relation: 'can_read' }), { user });
    outcomes.add(v.kind === 'allow' ? 'allow' : `${v.kind}:${(v as { reason?: string }).reason}`);
  }
  t.ok([...outcomes].every((o) => o === 'allow' || o === 'deny:rebac_denied' || o === 'deny:rebac_unavailable'), [...outcomes].join(', '));
  t.ok(bad.halfClosed() >= 1);
  bad.faults.check = 'pass';
  t.match(await decide(built.stage(single), { user: 'alice' }), { kind: 'allow' }, 'answered on a fresh connection');
});

t.test('ReadChanges: a page longer than page_size, or over its byte cap, is refused; decisions go on', async (t) => {
  const { built, bad } = await setup(t, { changes: { poll_ms: 3_600_000, page_size: 100, max_response_bytes: 64 * 1024 } });
  const feed = (built.cap.checker as unknown as { feed: { pollOnce(): Promise<void>; completedPolls: number } }).feed;
  const before = feed.completedPolls;
  const applied = await metricValue(built.metrics, 'authz_rebac_changes_total');
  bad.faults.changes = 'long_page';
  await feed.pollOnce();
  t.equal(await errors(built, 'read_changes', 'malformed'), 1, '200 changes for page_size 100');
  bad.faults.changes = 'huge';
  await feed.pollOnce();
  t.equal(await errors(built, 'read_changes', 'too_large'), 1);
  t.equal(feed.completedPolls, before, 'neither counted as a poll');
  t.equal(await metricValue(built.metrics, 'authz_rebac_changes_total'), applied, 'nothing applied');
  bad.faults.changes = 'pass';
  await feed.pollOnce();
  t.equal(feed.completedPolls, before + 1, 'the feed recovers');
});

t.test('ReadChanges streamed slowly is bounded by changes.timeout_ms and does not hold up decisions', async (t) => {
  const { built, bad } = await setup(t, { changes: { poll_ms: 3_600_000, timeout_ms: 300 } });
  const feed = (built.cap.checker as unknown as { feed: { pollOnce(): Promise<void> } }).feed;
  bad.faults.changes = 'drip';
  const poll = feed.pollOnce();
  t.match(await decide(built.stage(single), { user: 'alice', deadlineMs: 2000 }), { kind: 'allow' }, 'a decision while the feed drips');
  await poll;
  t.equal(await errors(built, 'read_changes', 'timeout'), 1);
  await eventually(t, 'the dripping feed response was closed', () => bad.cutOff() === 1);
});
