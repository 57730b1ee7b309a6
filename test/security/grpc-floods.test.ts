// Issue 9, finding 3: the gRPC port set no MAX_CONCURRENT_STREAMS and no
// stream or body timeout — idle streams, stalled 16 MiB length prefixes and
// CheckRequests of millions of empty header entries grew memory without
// bound while a normal Check timed out. These assert the behaviour that
// bounds it (streams refused, stalled streams denied, oversize refused at the
// prefix, entry counts capped), and that a normal Check is answered throughout.
// Memory figures are measured by bench/stress-grpc.js, not asserted here.
import t from 'tap';
import http2 from 'node:http2';
import { CheckRequestType, CheckResponseType, envoyCheckRequest, type CheckResponseObject } from '../support/grpc-client.js';
import { connect, frame, rawCall, unframe, type RawResponse } from '../support/grpc-raw.js';
import { allowDecision, startStubServer } from '../support/grpc-server.js';
import { connectRawH2 } from '../support/h2-raw-client.js';
import { CHECK_PATH } from '../../src/transport/grpc/server.js';
import type { Decision } from '../../src/decision/types.js';

const validRequest = (): Buffer => Buffer.from(CheckRequestType.encode(CheckRequestType.fromObject(envoyCheckRequest())).finish());
const reasonOf = (res: RawResponse): string | undefined => {
  const msg = CheckResponseType.toObject(CheckResponseType.decode(unframe(res.body)), { enums: Number }) as CheckResponseObject;
  if (msg.okResponse !== undefined) return 'ALLOWED';
  return (JSON.parse(msg.deniedResponse?.body ?? '{}') as { reason?: string }).reason;
};

const waitFor = async (what: string, cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
};

/** Sends headers and, optionally, the first bytes of a body, then stalls. Resolves with the response when one comes. */
function stalledCall(session: http2.ClientHttp2Session, firstBytes: Buffer | undefined) {
  const req = session.request({ ':method': 'POST', ':path': CHECK_PATH, 'content-type': 'application/grpc', te: 'trailers' });
  const chunks: Buffer[] = [];
  let trailers: http2.IncomingHttpHeaders = {};
  let reset: number | undefined;
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('trailers', (h) => (trailers = h));
  req.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => req.on('close', () => {
    reset = req.rstCode;
    resolve();
  }));
  if (firstBytes !== undefined) req.write(firstBytes);
  return {
    req,
    closed,
    result: () => ({ body: Buffer.concat(chunks), grpcStatus: trailers['grpc-status'] === undefined ? undefined : Number(trailers['grpc-status']), reset }),
  };
}

t.test('MAX_CONCURRENT_STREAMS: streams past the limit are refused; other connections are still answered', async (t) => {
  const held: Array<(d: Decision) => void> = [];
  // Every Check on the flooding connection hangs in decide(); others answer at once.
  const server = await startStubServer((req) =>
    req.headers['x-flood'] === undefined ? new Promise<Decision>((r) => held.push(r)) : allowDecision(),
  { maxConcurrentStreams: 10 });
  const flood = await connectRawH2(server.port);
  const other = connect(server.port);
  t.teardown(async () => { flood.close(); other.close(); await server.close(); });
  // A client that ignores the advertised limit: 40 streams at once on one connection.
  const body = frame(validRequest());
  const ids = Array.from({ length: 40 }, (_, i) => 2 * i + 1);
  for (const id of ids) flood.open(id, CHECK_PATH, body);
  // RFC 9113 §5.1.2 lets the server refuse the excess stream by stream or by
  // connection; node's nghttp2 ends the whole connection with GOAWAY.
  const refusedAll = () => flood.closed() || flood.resets.size >= 30;
  await waitFor('the excess streams refused', refusedAll);
  t.ok(flood.goaway() !== undefined || [...flood.resets.values()].every((c) => c === http2.constants.NGHTTP2_REFUSED_STREAM),
    'refused (GOAWAY, or RST_STREAM REFUSED_STREAM)');
  t.ok(held.length <= 10, `at most MAX_CONCURRENT_STREAMS reached decide() (${held.length})`);
  const res = await rawCall(other, CHECK_PATH, frame(Buffer.from(CheckRequestType.encode(CheckRequestType.fromObject(
    envoyCheckRequest({ headers: { 'x-flood': 'no' } }))).finish())));
  t.equal(reasonOf(res), 'ALLOWED', 'a normal Check on another connection is answered meanwhile');
  for (const r of held.splice(0)) r(allowDecision());
});

t.test('a huge length prefix is refused at once, not buffered until it stalls', async (t) => {
  const server = await startStubServer(() => allowDecision(), { maxMessageBytes: 64 * 1024, messageTimeoutMs: 60_000 });
  const session = connect(server.port);
  t.teardown(async () => { session.destroy(); await server.close(); });
  const prefix = Buffer.from([0, 0x01, 0, 0, 0]); // 16 MiB declared
  const calls = Array.from({ length: 20 }, () => stalledCall(session, Buffer.concat([prefix, Buffer.alloc(1000, 0x41)])));
  // The message timer is a minute away: an answer now can only come from the prefix.
  for (const c of calls) await new Promise<void>((resolve) => (c.req.once('trailers', () => resolve()), c.req.once('close', resolve)));
  for (const c of calls) {
    const r = c.result();
    t.equal(r.grpcStatus, 0);
    t.equal(reasonOf({ body: r.body } as RawResponse), 'message_too_large');
  }
  const still = await rawCall(session, CHECK_PATH, frame(validRequest()));
  t.equal(reasonOf(still), 'ALLOWED', 'the connection still serves');
});

t.test('a stream that stalls mid-message is denied message_timeout and then reset', async (t) => {
  const server = await startStubServer(() => allowDecision(), { messageTimeoutMs: 100 });
  const session = connect(server.port);
  t.teardown(async () => { session.destroy(); await server.close(); });
  const full = frame(validRequest());
  const idle = stalledCall(session, undefined); // headers only, never a byte of body
  const partial = stalledCall(session, full.subarray(0, 20));
  await Promise.all([idle.closed, partial.closed]);
  for (const [name, c] of [['idle', idle], ['partial', partial]] as const) {
    const r = c.result();
    t.equal(r.grpcStatus, 0, `${name}: answered with a CheckResponse`);
    t.equal(reasonOf({ body: r.body } as RawResponse), 'message_timeout', `${name}: denied message_timeout`);
  }
  const still = await rawCall(session, CHECK_PATH, frame(validRequest()));
  t.equal(reasonOf(still), 'ALLOWED');
});

t.test('bytes pending across streams are capped: past it a Check is denied overloaded', async (t) => {
  const server = await startStubServer(() => allowDecision(), { maxBufferedBytes: 256 * 1024, messageTimeoutMs: 60_000 });
  const session = connect(server.port);
  t.teardown(async () => { session.destroy(); await server.close(); });
  // Each declares 100 KB and sends 60 KB of it: five of them exceed 256 KiB.
  const head = Buffer.alloc(5);
  head.writeUInt32BE(100_000, 1);
  const calls = Array.from({ length: 6 }, () => stalledCall(session, Buffer.concat([head, Buffer.alloc(60_000, 0x41)])));
  await waitFor('an overloaded deny', () => calls.some((c) => c.result().body.length > 0));
  const denied = calls.filter((c) => c.result().body.length > 0).map((c) => reasonOf({ body: c.result().body } as RawResponse));
  t.ok(denied.length >= 1 && denied.every((r) => r === 'overloaded'), `denied overloaded: ${denied.join(',')}`);
  for (const c of calls) c.req.close();
  await Promise.all(calls.map((c) => c.closed));
  const still = await rawCall(session, CHECK_PATH, frame(validRequest()));
  t.equal(reasonOf(still), 'ALLOWED', 'bytes released when those streams went away');
});

t.test('millions of empty header entries: refused by size or by count, never decoded', async (t) => {
  let decided = 0;
  const server = await startStubServer(() => (decided++, allowDecision()));
  const session = connect(server.port);
  t.teardown(async () => { session.close(); await server.close(); });
  // HttpRequest.header_map (13) { headers (1) { } × n }: 2 bytes per empty entry.
  const checkWithEmptyEntries = (n: number): Buffer => {
    const entries = Buffer.alloc(2 * n);
    for (let i = 0; i < n; i++) entries[2 * i] = 0x0a;
    const wrap = (tag: number, inner: Buffer): Buffer => {
      const len: number[] = [];
      let v = inner.length;
      while (v >= 0x80) { len.push((v & 0x7f) | 0x80); v >>>= 7; }
      len.push(v);
      return Buffer.concat([Buffer.from([tag, ...len]), inner]);
    };
    // CheckRequest.attributes(1).request(4).http(2).header_map(13)
    return wrap(0x0a, wrap(0x22, wrap(0x12, wrap(0x6a, entries))));
  };
  const twoMillion = await rawCall(session, CHECK_PATH, frame(checkWithEmptyEntries(2_000_000)));
  t.equal(reasonOf(twoMillion), 'message_too_large', '2M entries (4 MB) are over the message size');
  const hundredThousand = await rawCall(session, CHECK_PATH, frame(checkWithEmptyEntries(100_000)));
  t.equal(reasonOf(hundredThousand), 'too_many_headers', '100k entries in 200 KB are over the count');
  t.equal(decided, 2, 'both still went through decide() as denies (decision id, audit)');
});
