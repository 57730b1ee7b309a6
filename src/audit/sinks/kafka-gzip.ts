// kafkajs' gzip codec, made synchronous and fast: zlib's gzip at its fastest
// level, compressed in one call on the shipper thread instead of through a
// zlib stream handed to libuv's pool. Per batch the stream's setup, its
// chunking and the hand-off cost more than the deflate itself (bench/RESULTS.md,
// session 3). Blocking is fine here: this thread only ships, it never answers
// a decision.
//
// Level 1 instead of zlib's default 6: on batches of 80 varied v1 events it
// deflates ~3.5x faster (~1.2 instead of ~4-5 µs of CPU per shipped event)
// for a ~16 % larger batch (9.7 instead of 8.3 KB, still ~7x smaller than the
// events). Any gzip reader decompresses either (bench/RESULTS.md, session 4).
//
// Registered through kafkajs' public codec table (CompressionCodecs, as the
// snappy/lz4 plugins do), in every thread that loads this module.
import { constants, gunzipSync, gzipSync } from 'node:zlib';
import kafkajs from 'kafkajs';

// CommonJS: node's ESM loader does not find CompressionCodecs among kafkajs' named exports.
const { CompressionCodecs, CompressionTypes } = kafkajs;

/** What kafkajs hands a codec: its encoder of the records (only `.buffer` is read). */
interface RecordsEncoder {
  readonly buffer: Buffer;
}

const GZIP_OPTIONS = { level: constants.Z_BEST_SPEED };

const syncGzip = {
  compress: (encoder: RecordsEncoder): Promise<Buffer> => Promise.resolve(gzipSync(encoder.buffer, GZIP_OPTIONS)),
  decompress: (buffer: Buffer): Promise<Buffer> => Promise.resolve(gunzipSync(buffer)),
};

export function useSyncGzip(): void {
  CompressionCodecs[CompressionTypes.GZIP] = () => syncGzip;
}
