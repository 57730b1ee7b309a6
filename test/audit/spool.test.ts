// The spool: what Kafka could not take survives a restart and is replayed
// first; when queue and spool are full, on_full decides (deny or drop + count).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { createAuditCapability } from '../../src/audit/index.js';
import { TestKafkaBroker } from '../support/kafka-broker/index.js';
import { decision, deps, deliveredIds, metricValue, request, until } from './fixtures/helpers.js';

async function downBroker(t: { teardown(fn: () => unknown): void }): Promise<TestKafkaBroker> {
  const broker = await new TestKafkaBroker({ partitions: 2 }).start();
  await broker.stop();
  t.teardown(() => broker.stop());
  return broker;
}

t.test('a restart replays the spool before newer events', async (t) => {
  const broker = await downBroker(t);
  const dir = t.testdir({});
  const section = {
    sinks: [{ kafka: { brokers: [broker.address], timeout_ms: 2000, retry_backoff_ms: { min: 50, max: 200 } } }],
    spool: { dir: 'spool', fsync: 'always' }, drain_timeout_ms: 300,
  };
  const first = deps(dir);
  const a = createAuditCapability(section, first);
  await a.ready();
  for (let i = 0; i < 50; i++) a.onDecision?.(decision({ id: `a-${i}`, tenant: i % 2 ? 'acme' : 'globex' }), request());
  await until(async () => (await metricValue(first, 'audit_events_spooled_total')) === 50, 'all 50 spooled');
  await a.close();
  t.ok(readdirSync(join(dir, 'spool')).some((f) => f.startsWith('segment-')), 'spool segment on disk');

  await broker.start();
  const b = createAuditCapability(section, deps(dir));
  await b.ready();
  for (let i = 0; i < 10; i++) b.onDecision?.(decision({ id: `b-${i}`, tenant: i % 2 ? 'acme' : 'globex' }), request());
  await until(() => deliveredIds(broker, 'authz-audit').size === 60, 'spooled and new events delivered');
  await until(() => !readdirSync(join(dir, 'spool')).some((f) => f.startsWith('segment-')), 'spool emptied');
  await b.close();
  for (const tenant of ['acme', 'globex']) {
    // Delivery is at least once (a batch re-sent after a timeout arrives twice;
    // consumers dedupe on ce_id), so order is judged on first deliveries.
    const all = broker.recordsFor('authz-audit').filter((r) => r.key === tenant).map((r) => r.headers.ce_id as string);
    const ids = [...new Set(all)];
    const firstNew = ids.findIndex((id) => id.startsWith('b-'));
    t.ok(firstNew > 0 && ids.slice(firstNew).every((id) => id.startsWith('b-')), `${tenant}: spooled events first`);
    const old = ids.slice(0, firstNew).map((id) => Number(id.slice(2)));
    t.same(old, [...old].sort((x, y) => x - y), `${tenant}: spooled events in order`);
  }
});

t.test('queue and spool full with on_full=deny: canAccept() turns false, then recovers with nothing lost', async (t) => {
  const broker = await downBroker(t);
  const d = deps(t.testdir({}));
  const cap = createAuditCapability({
    sinks: [{ kafka: { brokers: [broker.address], timeout_ms: 200, retry_backoff_ms: { min: 50, max: 200 } } }],
    queue: { capacity: 20 }, batch: { max_events: 5, max_wait_ms: 1 }, spool: { max_bytes: 4000, fsync: 'never' },
    drain_timeout_ms: 200,
  }, d);
  await cap.ready();
  let emitted = 0;
  await until(async () => {
    cap.onDecision?.(decision({ id: `f-${emitted++}` }), request());
    await new Promise((r) => setTimeout(r, 2));
    return !cap.canAccept();
  }, 'audit to refuse');
  t.notOk(cap.canAccept(), 'deny new requests: no unaudited access');
  t.equal(await metricValue(d, 'audit_events_dropped_total'), 0, 'nothing dropped so far');
  t.ok((await metricValue(d, 'audit_spool_bytes')) > 0, 'spool bytes reported');
  t.equal(await metricValue(d, 'audit_queue_depth'), 20, 'queue depth reported');

  await broker.start();
  await until(() => cap.canAccept(), 'room again once Kafka is back');
  await until(() => deliveredIds(broker, 'authz-audit').size === emitted, 'every accepted event delivered');
  await cap.close();
});

t.test('queue and spool full with on_full=drop: requests go on, drops are counted', async (t) => {
  const broker = await downBroker(t);
  const d = deps(t.testdir({}));
  const cap = createAuditCapability({
    sinks: [{ kafka: { brokers: [broker.address], timeout_ms: 200, retry_backoff_ms: { min: 50, max: 200 } } }],
    queue: { capacity: 20 }, batch: { max_events: 5, max_wait_ms: 1 }, spool: { max_bytes: 4000, fsync: 'never' },
    on_full: 'drop', drain_timeout_ms: 200,
  }, d);
  await cap.ready();
  let refused = 0;
  for (let i = 0; i < 200; i++) {
    if (!cap.canAccept()) refused++;
    cap.onDecision?.(decision({ id: `x-${i}` }), request());
    if (i % 10 === 0) await new Promise((r) => setTimeout(r, 5));
  }
  await until(async () => (await metricValue(d, 'audit_events_dropped_total')) > 0, 'drops counted');
  await broker.start();
  await until(async () => deliveredIds(broker, 'authz-audit').size
    + (await metricValue(d, 'audit_events_dropped_total')) === 200, 'every event delivered or counted as dropped');
  await cap.close();
  t.equal(refused, 0, 'never refused');
  t.ok(deliveredIds(broker, 'authz-audit').size > 0);
});
