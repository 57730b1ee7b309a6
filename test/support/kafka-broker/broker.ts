// A single-node Kafka broker that speaks enough of the wire protocol for an
// unmodified kafkajs producer: ApiVersions, Metadata (v0-v1), Produce (v3,
// record batches) and InitProducerId (v0). It keeps what it receives in
// memory, dedupes idempotent retries by producer sequence as a real broker
// does, and can be told to misbehave (drop connections, answer errors, stall).
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { CorruptBatchError, decodeRecordBatches } from './record-batch.js';
import { WireReader, WireWriter } from './wire.js';

export const API_PRODUCE = 0;
export const API_METADATA = 3;
export const API_API_VERSIONS = 18;
export const API_INIT_PRODUCER_ID = 22;

/** Kafka error codes used here (protocol guide, "Error Codes"). */
export const KafkaError = {
  NONE: 0,
  CORRUPT_MESSAGE: 2,
  UNKNOWN_TOPIC_OR_PARTITION: 3,
  NOT_LEADER_FOR_PARTITION: 6,
  REQUEST_TIMED_OUT: 7,
  UNSUPPORTED_VERSION: 35,
  OUT_OF_ORDER_SEQUENCE_NUMBER: 45,
} as const;

const SUPPORTED: ReadonlyArray<readonly [number, number, number]> = [
  [API_PRODUCE, 3, 3],
  [API_METADATA, 0, 1],
  [API_API_VERSIONS, 0, 2],
  [API_INIT_PRODUCER_ID, 0, 0],
];

const NODE_ID = 0;

export interface ReceivedRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly key: string | null;
  readonly value: string | null;
  readonly headers: Readonly<Record<string, string>>;
  readonly timestamp: number;
  readonly producerId: bigint;
  readonly producerEpoch: number;
  readonly sequence: number;
  readonly compression: number;
}

export interface BrokerOptions {
  readonly port?: number;
  readonly partitions?: number;
}

export class TestKafkaBroker {
  readonly records: ReceivedRecord[] = [];
  /** Requests seen by API key, for assertions such as "InitProducerId was called". */
  readonly requestCounts = new Map<number, number>();
  /** Batches answered as duplicates of an already-written sequence. */
  duplicateBatches = 0;

  /** Destroy every connection as soon as it sends anything. */
  dropConnections = false;
  /** Hold every response (the request is still applied) until `stall` is false again. */
  private stalled = false;
  private readonly held: Array<() => void> = [];
  private readonly produceErrors: number[] = [];

  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly logEnds = new Map<string, number>();
  private readonly lastSequence = new Map<string, number>();
  private nextProducerId = 1000n;
  private readonly partitions: number;
  private boundPort: number;

  constructor(opts: BrokerOptions = {}) {
    this.partitions = opts.partitions ?? 3;
    this.boundPort = opts.port ?? 0;
  }

  get port(): number {
    return this.boundPort;
  }

  get address(): string {
    return `127.0.0.1:${this.boundPort}`;
  }

  /** Listens (again, on the same port after a stop). */
  async start(): Promise<this> {
    const server = createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.boundPort, '127.0.0.1', () => resolve());
    });
    this.boundPort = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  /** Stops listening and cuts every connection: the broker is down. Records are kept. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    this.releaseHeld();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Answers the next `count` produce partitions with a (retriable) error code. */
  failNextProduces(errorCode: number, count = 1): void {
    for (let i = 0; i < count; i++) this.produceErrors.push(errorCode);
  }

  set stall(on: boolean) {
    this.stalled = on;
    if (!on) this.releaseHeld();
  }

  get stall(): boolean {
    return this.stalled;
  }

  /** Records on one topic, in log order per partition (partition by partition). */
  recordsFor(topic: string): ReceivedRecord[] {
    return this.records.filter((r) => r.topic === topic);
  }

  private releaseHeld(): void {
    const held = this.held.splice(0);
    for (const send of held) send();
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      if (this.dropConnections) {
        socket.destroy();
        return;
      }
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 4) {
        const size = pending.readInt32BE(0);
        if (pending.length < 4 + size) break;
        const frame = pending.subarray(4, 4 + size);
        pending = pending.subarray(4 + size);
        try {
          this.handle(socket, frame);
        } catch {
          // A frame this broker cannot parse: a real broker closes the connection.
          socket.destroy();
          return;
        }
      }
    });
  }

  private handle(socket: Socket, frame: Buffer): void {
    const r = new WireReader(frame);
    const apiKey = r.int16();
    const apiVersion = r.int16();
    const correlationId = r.int32();
    r.string(); // client id
    this.requestCounts.set(apiKey, (this.requestCounts.get(apiKey) ?? 0) + 1);
    const body = this.dispatch(apiKey, apiVersion, r);
    if (body === undefined) return; // acks=0: no response
    const payload = new WireWriter().int32(correlationId).toBuffer();
    const size = Buffer.alloc(4);
    size.writeInt32BE(payload.length + body.length);
    const send = () => {
      if (!socket.destroyed) socket.write(Buffer.concat([size, payload, body]));
    };
    if (this.stalled) this.held.push(send);
    else send();
  }

  private dispatch(apiKey: number, version: number, r: WireReader): Buffer | undefined {
    const range = SUPPORTED.find(([k]) => k === apiKey);
    if (range === undefined) throw new Error(`unsupported api key ${apiKey}`);
    if (version < range[1] || version > range[2]) {
      if (apiKey === API_API_VERSIONS) return this.apiVersions(KafkaError.UNSUPPORTED_VERSION, 0);
      throw new Error(`unsupported version ${version} of api ${apiKey}`);
    }
    switch (apiKey) {
      case API_API_VERSIONS:
        return this.apiVersions(KafkaError.NONE, version);
      case API_METADATA:
        return this.metadata(r, version);
      case API_INIT_PRODUCER_ID:
        return this.initProducerId(r);
      default:
        return this.produce(r);
    }
  }

  private apiVersions(errorCode: number, version: number): Buffer {
    const w = new WireWriter().int16(errorCode);
    w.array(SUPPORTED, (w, [key, min, max]) => w.int16(key).int16(min).int16(max));
    if (version >= 1) w.int32(0); // throttle_time_ms
    return w.toBuffer();
  }

  private metadata(r: WireReader, version: number): Buffer {
    const requested = r.array((r) => r.string() ?? '');
    // Topics are auto-created on first mention, as with auto.create.topics.enable.
    for (const t of requested) this.ensureTopic(t);
    const topics = requested.length > 0 ? requested : [...this.knownTopics()];
    const w = new WireWriter();
    w.array([NODE_ID], (w, id) => {
      w.int32(id).string('127.0.0.1').int32(this.boundPort);
      if (version >= 1) w.string(null); // rack
    });
    if (version >= 1) w.int32(NODE_ID); // controller id
    w.array(topics, (w, topic) => {
      w.int16(KafkaError.NONE).string(topic);
      if (version >= 1) w.bool(false); // is_internal
      w.array([...Array(this.partitions).keys()], (w, p) => {
        w.int16(KafkaError.NONE).int32(p).int32(NODE_ID);
        w.array([NODE_ID], (w, id) => w.int32(id));
        w.array([NODE_ID], (w, id) => w.int32(id));
      });
    });
    return w.toBuffer();
  }

  private initProducerId(r: WireReader): Buffer {
    r.string(); // transactional id (null for an idempotent producer)
    r.int32(); // transaction timeout
    const id = this.nextProducerId++;
    return new WireWriter().int32(0).int16(KafkaError.NONE).int64(id).int16(0).toBuffer();
  }

  private produce(r: WireReader): Buffer | undefined {
    r.string(); // transactional id
    const acks = r.int16();
    r.int32(); // timeout
    const topics = r.array((r) => ({
      topic: r.string() ?? '',
      partitions: r.array((r) => ({ partition: r.int32(), recordSet: r.bytes() ?? Buffer.alloc(0) })),
    }));
    const results = topics.map(({ topic, partitions }) => ({
      topic,
      partitions: partitions.map(({ partition, recordSet }) => ({
        partition,
        ...this.append(topic, partition, recordSet),
      })),
    }));
    if (acks === 0) return undefined;
    const w = new WireWriter();
    w.array(results, (w, t) => {
      w.string(t.topic);
      w.array(t.partitions, (w, p) => w.int32(p.partition).int16(p.errorCode).int64(BigInt(p.baseOffset)).int64(-1n));
    });
    w.int32(0); // throttle_time_ms
    return w.toBuffer();
  }

  private append(topic: string, partition: number, recordSet: Buffer): { errorCode: number; baseOffset: number } {
    const injected = this.produceErrors.shift();
    if (injected !== undefined) return { errorCode: injected, baseOffset: -1 };
    if (partition < 0 || partition >= this.partitions) {
      return { errorCode: KafkaError.UNKNOWN_TOPIC_OR_PARTITION, baseOffset: -1 };
    }
    let batches;
    try {
      batches = decodeRecordBatches(recordSet);
    } catch (err) {
      if (err instanceof CorruptBatchError || err instanceof RangeError) {
        return { errorCode: KafkaError.CORRUPT_MESSAGE, baseOffset: -1 };
      }
      throw err;
    }
    const logKey = `${topic}/${partition}`;
    let firstOffset = -1;
    for (const batch of batches) {
      if (batch.producerId >= 0n) {
        const seqKey = `${batch.producerId}/${batch.producerEpoch}/${logKey}`;
        const last = this.lastSequence.get(seqKey) ?? -1;
        const lastOfBatch = batch.baseSequence + batch.records.length - 1;
        if (lastOfBatch <= last) {
          // A retry of a batch already written: acknowledge, do not append again.
          this.duplicateBatches++;
          continue;
        }
        if (batch.baseSequence !== last + 1) return { errorCode: KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER, baseOffset: -1 };
        this.lastSequence.set(seqKey, lastOfBatch);
      }
      let offset = this.logEnds.get(logKey) ?? 0;
      if (firstOffset < 0) firstOffset = offset;
      batch.records.forEach((rec, i) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of rec.headers) headers[k] = v === null ? '' : v.toString('utf8');
        this.records.push({
          topic, partition, offset: offset++,
          key: rec.key === null ? null : rec.key.toString('utf8'),
          value: rec.value === null ? null : rec.value.toString('utf8'),
          headers, timestamp: rec.timestamp,
          producerId: batch.producerId, producerEpoch: batch.producerEpoch,
          sequence: batch.baseSequence + i, compression: batch.compression,
        });
      });
      this.logEnds.set(logKey, offset);
    }
    return { errorCode: KafkaError.NONE, baseOffset: Math.max(firstOffset, 0) };
  }

  private readonly topics = new Set<string>();

  private ensureTopic(topic: string): void {
    this.topics.add(topic);
  }

  private knownTopics(): Set<string> {
    return this.topics;
  }
}
