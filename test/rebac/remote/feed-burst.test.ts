// The change feed under a burst (issue 15's fleet-scale case, at a test's
// size; bench/scripts/change-feed-scale.js runs 100,000 tuples and a 10,000
// write burst): with 2,000 tuples in the store and 2,000 writes in a burst —
// 200 pages of 10 — the follower reads the pages back to back, so a tuple
// deleted at the end of the burst stops being allowed by the poll after the
// burst (not one poll per 50 pages); decisions on objects the burst did not
// touch stay cached, and every change is read exactly once.
import t from 'tap';
import { authzRequest } from '../../support/principals.js';
import { buildRemote, ctxFor, decide, eventually, isPromise, metricValue, startFga } from './harness.js';
import type { FgaFixture } from './harness.js';

interface Feed {
  completedPolls: number;
  pagesRead: number;
}

async function writeMany(fga: FgaFixture, tuples: Array<{ user: string; relation: string; object: string }>): Promise<void> {
  for (let i = 0; i < tuples.length; i += 100) await fga.admin.write({ writes: tuples.slice(i, i + 100) });
}

const viewers = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => ({ user: `user:${prefix}-${i % 97}`, relation: 'viewer', object: `project:${prefix}-${i}` }));

t.test('a 2,000-write burst is followed in one poll; the revocation at its end takes effect after it', async (t) => {
  const fga = await startFga(t);
  await writeMany(fga, viewers('old', 2000));
  const built = await buildRemote(t, fga, { cache: { allow_ttl_ms: 600_000 }, changes: { poll_ms: 200, page_size: 10 } });
  const feed = (built.cap.checker as unknown as { feed: Feed }).feed;
  const read = built.stage({ relation: 'can_read' });
  const edit = built.stage({ relation: 'can_edit' });
  t.match(await decide(read, { user: 'carol' }), { kind: 'allow' }, 'carol views acme-web');
  t.match(await decide(edit, { user: 'dave', project: 'acme-api' }), { kind: 'allow' }, 'dave edits acme-api');
  const changesBefore = await metricValue(built.metrics, 'authz_rebac_changes_total');

  const burst = viewers('burst', 1999);
  await writeMany(fga, burst);
  await fga.admin.write({ deletes: [{ user: 'user:carol', relation: 'viewer', object: 'project:acme-web' }] });
  const pollsAtEnd = feed.completedPolls;

  await eventually(t, 'carol is denied', async () => (await decide(read, { user: 'carol' })).kind === 'deny');
  t.ok(feed.completedPolls <= pollsAtEnd + 2,
    `revoked by the poll running at the burst's end or the next one (polls ${pollsAtEnd} → ${feed.completedPolls}); 50 pages a poll would need 4`);
  await eventually(t, 'all 2,000 changes read', async () =>
    (await metricValue(built.metrics, 'authz_rebac_changes_total')) - changesBefore === 2000);
  t.ok(feed.pagesRead >= 200, `${feed.pagesRead} pages`);

  const dave = edit.evaluate(authzRequest(), ctxFor({ user: 'dave', project: 'acme-api' }));
  t.notOk(isPromise(dave), 'dave on acme-api is still cached: no change in the burst touched it');
  t.same(dave, { kind: 'allow' });
  await new Promise((r) => setImmediate(r));
  t.equal((await metricValue(built.metrics, 'authz_rebac_changes_total')) - changesBefore, 2000, 'each change read once');
});
