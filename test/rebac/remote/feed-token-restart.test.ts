// docs/rebac.md: a continuation token the server no longer accepts (store
// recreated, changelog trimmed) restarts the change feed from now and drops
// every cached decision, since changes in between are unknown. The client here
// stands in for OpenFGA's ReadChanges answers; the feed is our real ChangeFeed.
import t from 'tap';
import { createLogger } from '../../../src/observability/logger.js';
import { ChangeFeed } from '../../../src/rebac/remote/change-feed.js';
import { UpstreamError } from '../../../src/rebac/remote/upstream-error.js';

t.test('a rejected continuation token: everything cached is dropped and the feed restarts from now', async (t) => {
  const calls: Array<{ token: string | undefined; startTime: string | undefined }> = [];
  const answers: Array<() => unknown> = [
    () => ({ changes: [{ tuple_key: { object: 'project:acme-web' } }], continuationToken: 'tok-1' }),
    () => { throw new UpstreamError('bad_request', 'HTTP 400: invalid continuation token'); },
    () => ({ changes: [], continuationToken: 'tok-2' }),
    () => ({ changes: [], continuationToken: '' }),
  ];
  const client = {
    readChanges: async (_size: number, token: string | undefined, startTime: string | undefined) => {
      calls.push({ token, startTime });
      return answers[calls.length - 1]!();
    },
  };
  const evicted: string[] = [];
  const cache = { invalidateAll: () => evicted.push('*'), invalidateObject: (o: string) => evicted.push(o) };
  let now = Date.parse('2026-01-01T00:00:00Z');
  const feed = new ChangeFeed({
    client: client as never, cache: cache as never, rule: () => ({ scopeOf: (object: string) => ({ kind: 'object', object }) }) as never,
    pollMs: 60_000, pageSize: 100, timeoutMs: 1000, maxPagesPerPoll: 1, log: createLogger('silent'),
    metrics: { changesApplied: { inc: () => undefined } } as never, now: () => now,
  });

  await feed.pollOnce();
  t.same(evicted, ['project:acme-web'], 'a change evicts its object');
  now += 3_600_000;
  await feed.pollOnce();
  t.equal(calls[1]!.token, 'tok-1', 'the feed followed its token');
  t.same(evicted, ['project:acme-web', '*'], 'the rejected token drops everything cached');
  await feed.pollOnce();
  t.equal(calls[2]!.token, undefined, 'the next poll carries no token…');
  t.equal(calls[2]!.startTime, new Date(now - 5_000).toISOString(), '…and starts from now (minus the clock-skew margin)');
  await feed.pollOnce();
  t.equal(calls[3]!.token, 'tok-2', 'then follows the new token');
  t.equal(feed.completedPolls, 3, 'only the rejected poll failed');
});
