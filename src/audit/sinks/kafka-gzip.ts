// kafkajs' gzip codec, made synchronous: the same zlib output (default
// options), compressed in one call on the shipper thread instead of through
// a zlib stream handed to libuv's pool. Per batch the stream's setup, its
// chunking and the hand-off cost more than the deflate itself (measured:
// ~5 µs of CPU per shipped event of ~28 for kafkajs' whole produce encoding;
// bench/RESULTS.md, session 3). Blocking is fine here: this thread only
// ships, it never answers a decision.
//
// Registered through kafkajs' public codec table (CompressionCodecs, as the
// snappy/lz4 plugins do), in every thread that loads this module.
import { gunzipSync, gzipSync } from 'node:zlib';
import kafkajs from 'kafkajs';

// CommonJS: node's ESM loader does not find CompressionCodecs among kafkajs' named exports.
const { CompressionCodecs, CompressionTypes } = kafkajs;

/** What kafkajs hands a codec: its encoder of the records (only `.buffer` is read). */
interface RecordsEncoder {
  readonly buffer: Buffer;
}

const syncGzip = {
  compress: (encoder: RecordsEncoder): Promise<Buffer> => Promise.resolve(gzipSync(encoder.buffer)),
  decompress: (buffer: Buffer): Promise<Buffer> => Promise.resolve(gunzipSync(buffer)),
};

export function useSyncGzip(): void {
  CompressionCodecs[CompressionTypes.GZIP] = () => syncGzip;
}
