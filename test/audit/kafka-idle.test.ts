// An idle Kafka sink arms no timer: once a batch is acknowledged and nothing
// waits to be sent, kafkajs' request queues schedule nothing (kafkajs 2.2.4
// rescheduled a 1 ms pending-request check forever per connection; the sink
// loads the fix, src/audit/sinks/kafkajs-idle-loop-fix.ts).
import { createRequire } from 'node:module';
import t from 'tap';
import { parseAuditConfig, remoteSinksOf, type KafkaSinkConfig } from '../../src/audit/config.js';
import { fixKafkajsIdleLoop } from '../../src/audit/sinks/kafkajs-idle-loop-fix.js';
import { KafkaSink } from '../../src/audit/sinks/kafka-sink.js';
import { createLogger } from '../../src/observability/logger.js';
import { TestKafkaBroker } from '../support/kafka-broker/index.js';

interface QueueInternals {
  pending: unknown[];
  throttleCheckTimeoutId: unknown;
}

const require = createRequire(import.meta.url);

t.test('the fix is in place for the pinned kafkajs', async (t) => {
  t.equal(fixKafkajsIdleLoop(), true, 'kafkajs is the version the fix was written for (else: check whether upstream fixed it)');
});

t.test('after a delivery, no request queue of the producer keeps a pending-check timer armed', async (t) => {
  const broker = await new TestKafkaBroker().start();
  t.teardown(() => broker.stop());
  // Watch the library's own request queues (instrumentation of kafkajs, not a stand-in for our code).
  const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as { prototype: { push: (...a: unknown[]) => unknown } };
  const queues = new Set<QueueInternals>();
  const push = RequestQueue.prototype.push;
  RequestQueue.prototype.push = function (this: QueueInternals, ...args: unknown[]) {
    queues.add(this);
    return push.apply(this, args);
  };
  t.teardown(() => {
    RequestQueue.prototype.push = push;
  });
  const config = remoteSinksOf(parseAuditConfig({ sinks: [{ jsonl: { dir: 'audit' } }, { kafka: { brokers: [broker.address] } }] })).kafka as KafkaSinkConfig;
  const sink = new KafkaSink(config, createLogger('silent'));
  t.teardown(() => sink.close());
  for (let i = 0; i < 3; i++) {
    await sink.send([{ key: 'acme', value: `{"n":${i}}` }]);
    t.ok(queues.size > 0, 'the producer talked through kafkajs request queues');
    for (const q of queues) {
      t.equal(q.pending.length, 0, 'nothing waits to be sent');
      t.notOk(q.throttleCheckTimeoutId, 'and no check of pending requests is scheduled');
    }
  }
  t.equal(broker.recordsFor('authz-audit').length, 3);
});
