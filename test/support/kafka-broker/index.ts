export { TestKafkaBroker, KafkaError, type ReceivedRecord, type BrokerOptions } from './broker.js';
export { decodeRecordBatches, type DecodedBatch, type DecodedRecord } from './record-batch.js';
export { crc32c } from './crc32c.js';
