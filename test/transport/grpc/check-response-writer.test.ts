// The hand-written CheckResponse writer must produce exactly what protobufjs
// encodes for checkResponseFor(decision), the readable definition of the
// response, and decode back to it.
import t from 'tap';
import type { Decision } from '../../../src/decision/types.js';
import { checkResponseFor } from '../../../src/transport/grpc/check-response.js';
import { DynamicMetadataPlan, encodeCheckResponseFrame } from '../../../src/transport/grpc/check-response-writer.js';
import { DECISION_METADATA_FIELDS } from '../../../src/decision/decision-metadata.js';
import { frameMessage, readUnaryBody } from '../../../src/transport/grpc/grpc-frame.js';
import { grpcCodec } from '../../../src/transport/grpc/proto-codec.js';

const { CheckResponse } = grpcCodec();
const ID = '2f1c0a9e-4b7d-4c55-9a0e-3d1e7b6c5a41';

function decision(over: Partial<Decision>): Decision {
  return {
    decisionId: ID,
    allowed: true,
    status: 200,
    reason: 'allowed',
    stage: 'engine',
    mode: 'deny',
    upstreamHeaders: { 'x-authz-decision-id': ID, 'x-authz-principal': 'alice', 'x-authz-tenant': 'acme', 'x-authz-roles': 'viewer' },
    responseHeaders: { 'x-authz-decision-id': ID },
    annotations: {},
    durationSeconds: 0.0001,
    ...over,
  };
}

const cases: Array<[string, Decision]> = [
  ['allow with identity headers', decision({})],
  ['allow, no headers at all (decision id added to both lists)', decision({ upstreamHeaders: {}, responseHeaders: {} })],
  ['allow with client response headers and a warning', decision({
    responseHeaders: { 'x-authz-decision-id': ID, 'x-budget-remaining': '17', 'x-authz-warning': 'would deny: rbac_denied' },
  })],
  ['allow with non-ASCII and long header values', decision({
    upstreamHeaders: { 'x-authz-principal': 'zoë@exämple — 日本', 'x-long': 'v'.repeat(300), 'x-empty': '' },
  })],
  ['deny 401 with the default body', decision({ allowed: false, status: 401, reason: 'token_expired', stage: 'identity', upstreamHeaders: {} })],
  ['deny 403', decision({ allowed: false, status: 403, reason: 'tenant_mismatch', stage: 'tenant' })],
  ['deny 429 with budget headers', decision({
    allowed: false, status: 429, reason: 'budget_exhausted', stage: 'budget',
    responseHeaders: { 'x-authz-decision-id': ID, 'retry-after': '30' },
  })],
  ['deny 503', decision({ allowed: false, status: 503, reason: 'deadline_exceeded', stage: 'engine', responseHeaders: {} })],
  ['deny with a policy body and its own content type', decision({
    allowed: false, status: 403, reason: 'policy_denied', stage: 'policy',
    responseHeaders: { 'x-authz-decision-id': ID, 'Content-Type': 'text/plain; charset=utf-8' },
    body: `nope — ${'ü'.repeat(9000)}`,
  })],
  ['deny with a non-ASCII reason', decision({ allowed: false, status: 403, reason: 'refusé', stage: 'policy' })],
];

for (const [name, d] of cases) {
  t.test(name, async (t) => {
    const expected = frameMessage(CheckResponse.encode(checkResponseFor(d)).finish());
    const actual = encodeCheckResponseFrame(d);
    t.equal(actual.toString('hex'), Buffer.from(expected).toString('hex'), 'same bytes as protobufjs');
    const read = readUnaryBody(actual);
    t.equal(read.kind, 'message', 'one gRPC-framed message');
    if (read.kind !== 'message') return;
    const decoded = CheckResponse.toObject(CheckResponse.decode(read.message), { enums: Number, longs: Number });
    const reference = CheckResponse.toObject(CheckResponse.fromObject(checkResponseFor(d)), { enums: Number, longs: Number });
    t.same(decoded, reference, 'decodes to checkResponseFor(decision)');
  });
}

t.test('every dynamic_metadata field, as protobufjs encodes them (absent and non-ASCII values too)', async (t) => {
  const fields = [...DECISION_METADATA_FIELDS];
  const plan = new DynamicMetadataPlan(fields);
  const principal = { id: 'zoë@exämple', kind: 'user', tenant: 'acme', roles: [], claims: {}, source: 'jwt' } as const;
  const withIdentity = decision({ principal, route: 'read-project', action: 'read' });
  const noIdentity = decision({ allowed: false, status: 401, reason: 'no_identity', stage: 'identity', route: 'read-project' });
  for (const d of [withIdentity, noIdentity]) {
    const expected = frameMessage(CheckResponse.encode(checkResponseFor(d, undefined, fields)).finish());
    t.equal(encodeCheckResponseFrame(d, undefined, plan).toString('hex'), Buffer.from(expected).toString('hex'));
  }
  const read = readUnaryBody(encodeCheckResponseFrame(withIdentity, undefined, plan));
  if (read.kind !== 'message') return t.fail('not a message');
  const decoded = CheckResponse.toObject(CheckResponse.decode(read.message)) as { dynamicMetadata: { fields: Record<string, { stringValue: string }> } };
  t.same(Object.fromEntries(Object.entries(decoded.dynamicMetadata.fields).map(([k, v]) => [k, v.stringValue])), {
    decision_id: ID, reason: 'allowed', stage: 'engine', principal: 'zoë@exämple', tenant: 'acme', route: 'read-project', action: 'read',
  });
});

t.test('owned names the client sent go into headers_to_remove, as protobufjs encodes them (non-ASCII and long ones too)', async (t) => {
  const d = decision({});
  const requestHeaders: Array<readonly [string, string]> = [
    ['accept', 'a'], ['x-budget-remaining-x', '1'], ['x-authz-ünïcode', '2'], [`x-authz-${'l'.repeat(300)}`, '3'],
    ['x-authz-principal', 'mallory'], // set by the decision: overwritten, not removed
  ];
  for (let round = 0; round < 2; round++) {
    const expected = frameMessage(CheckResponse.encode(checkResponseFor(d, requestHeaders)).finish());
    t.equal(encodeCheckResponseFrame(d, requestHeaders).toString('hex'), Buffer.from(expected).toString('hex'), `round ${round}: same bytes`);
  }
  const read = readUnaryBody(encodeCheckResponseFrame(d, requestHeaders));
  if (read.kind !== 'message') return t.fail('not a message');
  const removed = (CheckResponse.toObject(CheckResponse.decode(read.message)) as { okResponse: { headersToRemove: string[] } })
    .okResponse.headersToRemove;
  t.ok(removed.includes('x-authz-ünïcode'), 'the non-ASCII name comes back as sent');
  t.ok(removed.includes('x-budget-remaining-x'));
  t.ok(removed.includes(`x-authz-${'l'.repeat(300)}`));
  t.notOk(removed.includes('x-authz-principal'));
  t.same(encodeCheckResponseFrame(d).toString('hex'), Buffer.from(frameMessage(CheckResponse.encode(checkResponseFor(d)).finish())).toString('hex'),
    'and the next response without them is unaffected');
});
