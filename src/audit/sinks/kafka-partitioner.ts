// kafkajs' DefaultPartitioner (the Java client's murmur2 of the key), with
// each key's partition remembered: the shipper sends every event of a tenant
// with the same key, and the default partitioner hashed it again for every
// record (a Buffer of the key, murmur2 on kafkajs' Long arithmetic, and a
// filtered copy of the partition list per record).
//
// The partition of a keyed record depends only on the key and the topic's
// partition count (murmur2(key) mod count), so remembering it per (topic,
// count, key) gives exactly what the default gives; a record without a key,
// or with an explicit partition, goes to the default partitioner as before.
import { Partitioners, type ICustomPartitioner } from 'kafkajs';

/** Keys remembered per topic and partition count before the memory starts over (tenants are few; this only bounds it). */
const MAX_KEYS = 10_000;

export const memoizedDefaultPartitioner: ICustomPartitioner = () => {
  const partitioner = Partitioners.DefaultPartitioner();
  const memo = new Map<string, { count: number; byKey: Map<string, number> }>();
  return (args) => {
    const { topic, partitionMetadata, message } = args;
    const key = message.key;
    if (typeof key !== 'string' || (message.partition !== undefined && message.partition !== null)) return partitioner(args);
    const count = partitionMetadata.length;
    let known = memo.get(topic);
    if (known === undefined || known.count !== count || known.byKey.size >= MAX_KEYS) {
      known = { count, byKey: new Map() };
      memo.set(topic, known);
    }
    let partition = known.byKey.get(key);
    if (partition === undefined) {
      partition = partitioner(args);
      known.byKey.set(key, partition);
    }
    return partition;
  };
};
