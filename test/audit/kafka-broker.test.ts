// The test broker against unmodified kafkajs: what the audit tests build on.
import t from 'tap';
import { CompressionTypes, Kafka, logLevel, Partitioners } from 'kafkajs';
import { KafkaError, TestKafkaBroker } from '../support/kafka-broker/index.js';

const API_PRODUCE = 0;
const API_INIT_PRODUCER_ID = 22;

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function producerFor(broker: TestKafkaBroker, requestTimeout = 2000) {
  const kafka = new Kafka({
    clientId: 'broker-test', brokers: [broker.address], logLevel: logLevel.NOTHING,
    requestTimeout, retry: { retries: 20, initialRetryTime: 50, maxRetryTime: 200 },
  });
  return kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
}

t.test('an idempotent kafkajs producer delivers gzip batches with keys and headers', async (t) => {
  const broker = await new TestKafkaBroker().start();
  t.teardown(() => broker.stop());
  const producer = producerFor(broker);
  await producer.connect();
  t.teardown(() => producer.disconnect());
  await producer.send({
    topic: 'audit', acks: -1, compression: CompressionTypes.GZIP,
    messages: [
      { key: 'acme', value: '{"n":1}', headers: { ce_id: 'a1', 'content-type': 'application/json' } },
      { key: 'acme', value: '{"n":2}', headers: { ce_id: 'a2' } },
    ],
  });
  const got = broker.recordsFor('audit');
  t.equal(got.length, 2);
  t.same(got.map((r) => [r.key, r.value, r.headers.ce_id]), [['acme', '{"n":1}', 'a1'], ['acme', '{"n":2}', 'a2']]);
  t.equal(got[0]?.headers['content-type'], 'application/json');
  t.equal(got[0]?.compression, 1, 'gzip batch');
  t.ok((got[0]?.producerId ?? -1n) >= 0n, 'producer id from InitProducerId');
  t.same(got.map((r) => r.sequence), [0, 1]);
  t.ok((broker.requestCounts.get(API_INIT_PRODUCER_ID) ?? 0) >= 1);
});

t.test('a retriable error is retried and the batch lands once', async (t) => {
  const broker = await new TestKafkaBroker({ partitions: 1 }).start();
  t.teardown(() => broker.stop());
  const producer = producerFor(broker);
  await producer.connect();
  t.teardown(() => producer.disconnect());
  broker.failNextProduces(KafkaError.NOT_LEADER_FOR_PARTITION, 2);
  await producer.send({ topic: 'audit', acks: -1, messages: [{ key: 'k', value: 'v1' }] });
  t.same(broker.recordsFor('audit').map((r) => r.value), ['v1']);
  t.ok((broker.requestCounts.get(API_PRODUCE) ?? 0) >= 3, 'two failed attempts, then success');
});

t.test('a stalled broker: the client retries the same sequence and the broker dedupes it', async (t) => {
  const broker = await new TestKafkaBroker({ partitions: 1 }).start();
  t.teardown(() => broker.stop());
  const producer = producerFor(broker, 300);
  await producer.connect();
  t.teardown(() => producer.disconnect());
  await producer.send({ topic: 'audit', acks: -1, messages: [{ key: 'k', value: 'first' }] });
  broker.stall = true;
  const sending = producer.send({ topic: 'audit', acks: -1, messages: [{ key: 'k', value: 'second' }] });
  await until(() => (broker.requestCounts.get(API_PRODUCE) ?? 0) >= 3, 'a retried produce');
  broker.stall = false;
  await sending;
  t.same(broker.recordsFor('audit').map((r) => r.value), ['first', 'second'], 'written once despite the retry');
  t.ok(broker.duplicateBatches >= 1, 'the retry was recognised as a duplicate');
});

t.test('dropped connections fail the send; a restarted broker on the same port serves again', async (t) => {
  const broker = await new TestKafkaBroker({ partitions: 1 }).start();
  t.teardown(() => broker.stop());
  const kafka = new Kafka({ clientId: 'x', brokers: [broker.address], logLevel: logLevel.NOTHING,
    retry: { retries: 1, initialRetryTime: 20, maxRetryTime: 50 } });
  broker.dropConnections = true;
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await t.rejects(producer.connect(), { name: 'KafkaJSNumberOfRetriesExceeded' });
  broker.dropConnections = false;
  await broker.stop();
  await broker.start();
  await producer.connect();
  await producer.send({ topic: 'audit', messages: [{ value: 'after' }] });
  await producer.disconnect();
  t.same(broker.recordsFor('audit').map((r) => r.value), ['after']);
});
