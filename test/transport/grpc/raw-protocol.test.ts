// What a careless or hostile client sends over raw HTTP/2: the server answers
// each with the right gRPC status (or a deny) and keeps serving.
import t from 'tap';
import http2 from 'node:http2';
import { CheckRequestType, CheckResponseType, envoyCheckRequest, type CheckResponseObject } from '../../support/grpc-client.js';
import type { Test } from 'tap';
import { connect, frame, rawCall, unframe, type RawResponse } from '../../support/grpc-raw.js';
import { allowDecision, recordingDecide, startStubServer } from '../../support/grpc-server.js';
import { CHECK_PATH } from '../../../src/transport/grpc/server.js';
import type { Decision } from '../../../src/decision/types.js';

const validRequest = (): Buffer => Buffer.from(CheckRequestType.encode(CheckRequestType.fromObject(envoyCheckRequest())).finish());
const decodeResponse = (body: Buffer): CheckResponseObject =>
  CheckResponseType.toObject(CheckResponseType.decode(unframe(body)), { enums: Number }) as CheckResponseObject;

t.test('raw gRPC framing', async (t) => {
  // An allow-everything stub: whatever the server does with bad input, it must not be an OK.
  const { decide, seen } = recordingDecide(() => allowDecision());
  const server = await startStubServer(decide, { maxMessageBytes: 64 * 1024 });
  const session = connect(server.port);
  t.teardown(async () => { session.close(); await server.close(); });

  t.test('a well-formed call: headers, one message, trailers with grpc-status 0', async (t) => {
    const res = await rawCall(session, CHECK_PATH, frame(validRequest()));
    t.equal(res.headers[':status'], 200);
    t.equal(res.headers['content-type'], 'application/grpc');
    t.equal(res.trailers['grpc-status'], '0');
    t.equal(decodeResponse(res.body).status?.code ?? 0, 0);
  });

  for (const [name, bytes] of [
    ['invalid wire type', Buffer.from([0x0f, 0x01])],
    ['truncated length-delimited field', Buffer.from([0x0a, 0xff, 0xff, 0x03, 0x01])],
    ['random bytes', Buffer.from('c7f1e2d3a4b5968778695a4b3c2d1e0f', 'hex')],
  ] as const) {
    t.test(`malformed protobuf (${name}) → CheckResponse deny malformed_request`, async (t) => {
      const before = seen.length;
      const res = await rawCall(session, CHECK_PATH, frame(bytes));
      t.equal(res.grpcStatus, 0, 'the call succeeds: the deny is in the message');
      const msg = decodeResponse(res.body);
      t.equal(msg.status?.code, 7, 'PERMISSION_DENIED');
      t.equal(msg.deniedResponse?.status?.code, 403);
      t.match(JSON.parse(msg.deniedResponse?.body ?? '{}'), { reason: 'malformed_request' });
      t.equal(seen.length, before + 1, 'decide() saw it (decision id, metrics, audit)');
      t.equal(seen.at(-1)?.req.malformed, 'malformed_request');
    });
  }

  t.test('an empty message decodes to an empty CheckRequest: missing_attributes deny', async (t) => {
    const res = await rawCall(session, CHECK_PATH, frame(Buffer.alloc(0)));
    const msg = decodeResponse(res.body);
    t.equal(msg.status?.code, 7);
    t.equal(seen.at(-1)?.req.malformed, 'missing_attributes');
  });

  // Issue 9: a gRPC error here is what Envoy's failure_mode_allow turns into
  // an allow; every failure to read a Check is a CheckResponse deny instead.
  const assertDeny = (t: Test, res: RawResponse, reason: string, what = reason): void => {
    t.equal(res.grpcStatus, 0, `${what}: the call succeeds, the deny is in the message`);
    const msg = decodeResponse(res.body);
    t.equal(msg.status?.code, 7, `${what}: PERMISSION_DENIED`);
    t.equal(msg.deniedResponse?.status?.code, 403);
    t.match(JSON.parse(msg.deniedResponse?.body ?? '{}'), { reason }, what);
    t.equal(msg.okResponse, undefined);
  };

  t.test('compressed flag without grpc-encoding → deny compressed_message', async (t) => {
    assertDeny(t, await rawCall(session, CHECK_PATH, frame(validRequest(), 1)), 'compressed_message');
  });

  t.test('compressed with an encoding we never offered → deny compressed_message', async (t) => {
    const res = await rawCall(session, CHECK_PATH, frame(validRequest(), 1), { 'grpc-encoding': 'gzip' });
    assertDeny(t, res, 'compressed_message');
  });

  t.test('bad framing → deny bad_framing', async (t) => {
    const full = frame(validRequest());
    assertDeny(t, await rawCall(session, CHECK_PATH, full.subarray(0, full.length - 3)), 'bad_framing', 'truncated');
    assertDeny(t, await rawCall(session, CHECK_PATH, Buffer.concat([full, full])), 'bad_framing', 'two messages');
    assertDeny(t, await rawCall(session, CHECK_PATH, Buffer.alloc(0)), 'bad_framing', 'no message');
    assertDeny(t, await rawCall(session, CHECK_PATH, Buffer.from([0, 0])), 'bad_framing', 'partial prefix');
  });

  t.test('a message over the size limit → deny message_too_large', async (t) => {
    assertDeny(t, await rawCall(session, CHECK_PATH, frame(Buffer.alloc(200 * 1024, 0x41))), 'message_too_large');
  });

  t.test('wrong content-type → HTTP 415; GET → not a gRPC call', async (t) => {
    const res = await rawCall(session, CHECK_PATH, frame(validRequest()), { 'content-type': 'application/json' });
    t.equal(res.headers[':status'], 415);
    const get = await rawCall(session, CHECK_PATH, Buffer.alloc(0), { ':method': 'GET' });
    t.not(get.grpcStatus, 0);
  });

  t.test('unknown path → UNIMPLEMENTED, grpc-message percent-encoded', async (t) => {
    const res = await rawCall(session, '/pkg.Svc/Mëthod%', frame(Buffer.alloc(0)));
    t.equal(res.grpcStatus, 12);
    const raw = res.headers['grpc-message'] as string;
    t.match(raw, /^[\x20-\x7e]*$/, 'only printable ASCII on the wire');
    t.match(res.grpcMessage, /Mëthod%/, 'decodes back to the text');
  });

  t.test('after all that, the same connection still serves', async (t) => {
    const res = await rawCall(session, CHECK_PATH, frame(validRequest()));
    t.equal(res.grpcStatus, 0);
    t.equal(decodeResponse(res.body).status?.code ?? 0, 0);
  });
});

t.test('client resets while decide() is pending do not hurt the server', async (t) => {
  const pending: Array<(d: Decision) => void> = [];
  let slow = true;
  let decided = 0;
  const server = await startStubServer(() => {
    decided++;
    return slow ? new Promise<Decision>((resolve) => pending.push(resolve)) : allowDecision();
  });
  const session = connect(server.port);
  t.teardown(async () => { session.close(); await server.close(); });

  const streams = Array.from({ length: 20 }, () => {
    const req = session.request({ ':method': 'POST', ':path': CHECK_PATH, 'content-type': 'application/grpc' });
    req.on('error', () => undefined);
    req.end(frame(validRequest()));
    return req;
  });
  while (pending.length < streams.length) await new Promise((r) => setTimeout(r, 5));
  for (const s of streams) s.close(http2.constants.NGHTTP2_CANCEL);
  await new Promise((r) => setTimeout(r, 20));
  // Answering the abandoned streams must be a no-op.
  for (const resolve of pending) resolve(allowDecision());
  // A reset in the middle of sending the body, too.
  const half = session.request({ ':method': 'POST', ':path': CHECK_PATH, 'content-type': 'application/grpc' });
  half.on('error', () => undefined);
  half.write(frame(validRequest()).subarray(0, 10));
  half.close(http2.constants.NGHTTP2_CANCEL);

  slow = false;
  const res = await rawCall(session, CHECK_PATH, frame(validRequest()));
  t.equal(res.grpcStatus, 0);
  t.equal(decodeResponse(res.body).status?.code ?? 0, 0, 'still answering on the same connection');
  // The server reads frames in order: the reset reached it before the last call did.
  t.equal(decided, streams.length + 1, 'the call reset mid-message was never decided (no bad_framing deny, no audit event)');
});
