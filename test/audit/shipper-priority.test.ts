// The audit shipper thread runs at a lower priority than the decision thread
// (audit.shipper_nice, 10 by default) so that encoding and compressing a batch
// never takes the core from an answer; the decision thread keeps its own.
import { readdirSync, readFileSync } from 'node:fs';
import t from 'tap';
import { createAuditCapability } from '../../src/audit/index.js';
import { TestKafkaBroker } from '../support/kafka-broker/index.js';
import { decision, deliveredIds, deps, request, until } from './fixtures/helpers.js';

/** Nice value of every thread of this process, by thread name (/proc/self/task/<tid>/stat, field 19). */
function threadNices(): Array<{ tid: number; name: string; nice: number }> {
  return readdirSync('/proc/self/task').map((tid) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const name = stat.slice(stat.indexOf('(') + 1, close);
    // Fields after "(comm)" start at field 3 (state); nice is field 19.
    const nice = Number(stat.slice(close + 2).split(' ')[19 - 3]);
    return { tid: Number(tid), name, nice };
  });
}

const linux = process.platform === 'linux';

for (const [label, config, expected] of [
  ['default', {}, 10],
  ['shipper_nice: 3', { shipper_nice: 3 }, 3],
] as const) {
  t.test(`the shipper thread runs at nice ${expected} (${label}); the decision thread is untouched`, { skip: linux ? false : 'per-thread nice values are Linux-only' }, async (t) => {
    const broker = await new TestKafkaBroker().start();
    t.teardown(() => broker.stop());
    const d = deps(t.testdir({}));
    const before = new Set(threadNices().map((x) => x.tid));
    const mainNice = threadNices().find((x) => x.tid === process.pid)?.nice;
    const cap = createAuditCapability({
      sinks: [{ jsonl: { dir: 'audit', fsync: 'never' } }, { kafka: { brokers: [broker.address], timeout_ms: 2000 } }],
      ...config,
    }, d);
    t.teardown(() => cap.close());
    await cap.ready();
    cap.onDecision?.(decision({ id: 'p-1', tenant: 'acme' }), request());
    // Shipped: the shipper thread is up and past its start.
    await until(() => deliveredIds(broker, 'authz-audit').has('p-1'), 'the event shipped');
    const lowered = threadNices().filter((x) => !before.has(x.tid) && x.nice === expected);
    t.ok(lowered.length >= 1, `a new thread at nice ${expected}: ${JSON.stringify(threadNices().filter((x) => !before.has(x.tid)))}`);
    t.equal(threadNices().find((x) => x.tid === process.pid)?.nice, mainNice, 'the decision thread keeps its priority');
  });
}

t.test('shipper_nice outside 0..19 is refused', async (t) => {
  const d = deps(t.testdir({}));
  t.throws(() => createAuditCapability({ sinks: [{ jsonl: { dir: 'audit' } }], shipper_nice: 20 }, d), /shipper_nice/);
});
