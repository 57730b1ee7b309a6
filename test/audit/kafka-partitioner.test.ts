// The shipper's partitioner remembers each key's partition; a consumer
// relies on it putting every record exactly where kafkajs' DefaultPartitioner
// (the Java client's murmur2) puts it, also after the partition count changes.
import { Partitioners, type PartitionMetadata } from 'kafkajs';
import t from 'tap';
import { memoizedDefaultPartitioner } from '../../src/audit/sinks/kafka-partitioner.js';

const metadata = (count: number): PartitionMetadata[] =>
  Array.from({ length: count }, (_, partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }));

t.test('a keyed record goes where the default partitioner sends it, every time', async (t) => {
  const memoized = memoizedDefaultPartitioner();
  const reference = Partitioners.DefaultPartitioner();
  const keys = ['acme', 'globex', '', 'tenant-ü', ...Array.from({ length: 200 }, (_, i) => `t-${i}`)];
  let spread = new Set<number>();
  for (const count of [1, 3, 12, 3]) {
    const partitionMetadata = metadata(count);
    for (let round = 0; round < 2; round++) {
      for (const key of keys) {
        const args = { topic: 'authz-audit', partitionMetadata, message: { key, value: 'x' } };
        t.equal(memoized(args), reference(args), `${key} over ${count} partitions`, { diagnostic: false });
      }
    }
    if (count === 12) spread = new Set(keys.map((key) => memoized({ topic: 'authz-audit', partitionMetadata, message: { key, value: 'x' } })));
  }
  t.ok(spread.size > 1, 'the keys spread over the partitions');
});

t.test('an explicit partition is kept', async (t) => {
  const memoized = memoizedDefaultPartitioner();
  t.equal(memoized({ topic: 'authz-audit', partitionMetadata: metadata(4), message: { key: 'acme', value: 'x', partition: 2 } }), 2);
});
