// Decodes the RECORDS field of a Produce request: one or more v2 record
// batches (magic 2), optionally gzip-compressed, with record headers.
// Layout from Kafka's "Record Batch" documentation.
import { gunzipSync } from 'node:zlib';
import { crc32c } from './crc32c.js';
import { WireReader } from './wire.js';

export interface DecodedRecord {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: ReadonlyArray<readonly [string, Buffer | null]>;
  readonly timestamp: number;
  readonly offsetDelta: number;
}

export interface DecodedBatch {
  readonly producerId: bigint;
  readonly producerEpoch: number;
  readonly baseSequence: number;
  readonly compression: number;
  readonly transactional: boolean;
  readonly records: DecodedRecord[];
}

export class CorruptBatchError extends Error {
  override readonly name = 'CorruptBatchError';
}

const COMPRESSION_NONE = 0;
const COMPRESSION_GZIP = 1;

export function decodeRecordBatches(recordSet: Buffer): DecodedBatch[] {
  const r = new WireReader(recordSet);
  const batches: DecodedBatch[] = [];
  while (r.remaining > 0) {
    r.int64(); // base offset: assigned by the broker, ignored on produce
    const length = r.int32();
    batches.push(decodeBatchBody(new WireReader(r.raw(length))));
  }
  return batches;
}

function decodeBatchBody(r: WireReader): DecodedBatch {
  r.int32(); // partition leader epoch
  const magic = r.int8();
  if (magic !== 2) throw new CorruptBatchError(`unsupported magic ${magic}`);
  const crc = r.uint32();
  const covered = r.buf.subarray(r.pos);
  if (crc32c(covered) !== crc) throw new CorruptBatchError('CRC-32C mismatch');
  const attributes = r.int16();
  r.int32(); // last offset delta
  const firstTimestamp = Number(r.int64());
  r.int64(); // max timestamp
  const producerId = r.int64();
  const producerEpoch = r.int16();
  const baseSequence = r.int32();
  const count = r.int32();
  const compression = attributes & 0x07;
  let recordsReader: WireReader;
  if (compression === COMPRESSION_NONE) recordsReader = r;
  else if (compression === COMPRESSION_GZIP) recordsReader = new WireReader(gunzipSync(r.raw(r.remaining)));
  else throw new CorruptBatchError(`unsupported compression codec ${compression}`);
  const records: DecodedRecord[] = [];
  for (let i = 0; i < count; i++) records.push(decodeRecord(recordsReader, firstTimestamp));
  return { producerId, producerEpoch, baseSequence, compression, transactional: (attributes & 0x10) !== 0, records };
}

function decodeRecord(outer: WireReader, firstTimestamp: number): DecodedRecord {
  const r = new WireReader(outer.raw(outer.varint()));
  r.int8(); // record attributes (unused)
  const timestamp = firstTimestamp + r.varint();
  const offsetDelta = r.varint();
  const key = r.varBytes();
  const value = r.varBytes();
  const headerCount = r.varint();
  const headers: Array<readonly [string, Buffer | null]> = [];
  for (let i = 0; i < headerCount; i++) {
    const name = (r.varBytes() ?? Buffer.alloc(0)).toString('utf8');
    headers.push([name, r.varBytes()]);
  }
  return { key, value, headers, timestamp, offsetDelta };
}
