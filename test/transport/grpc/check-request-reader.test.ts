// The hand-written CheckRequest reader against protobufjs: for messages
// protobufjs encodes, authzRequestFromCheck() must see the same request
// either way; bytes protobufjs refuses, the reader refuses too.
import t from 'tap';
import { authzRequestFromCheck } from '../../../src/request/from-check-request.js';
import { decodeCheckRequest } from '../../../src/transport/grpc/check-request-reader.js';
import type { DecodedCheckRequest } from '../../../src/request/check-request-types.js';
import { grpcCodec } from '../../../src/transport/grpc/proto-codec.js';

const { CheckRequest } = grpcCodec();
const encode = (obj: Record<string, unknown>): Buffer => Buffer.from(CheckRequest.encode(CheckRequest.fromObject(obj)).finish());
const viaProtobufjs = (buf: Buffer) => authzRequestFromCheck(CheckRequest.decode(buf) as unknown as DecodedCheckRequest);
const viaReader = (buf: Buffer) => authzRequestFromCheck(decodeCheckRequest(buf));
/** Plain JSON of a request (null-prototype maps compare as objects). */
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

const samples: Array<[string, Record<string, unknown>]> = [
  ['empty', {}],
  ['attributes without request', { attributes: { contextExtensions: { k: 'v' } } }],
  ['a typical Envoy request', {
    attributes: {
      source: { address: { socketAddress: { address: '10.0.3.7', portValue: 51234 } }, principal: 'spiffe://td/ns/a/sa/web', labels: { app: 'web', v: '' } },
      destination: { address: { pipe: { path: '/run/app.sock', mode: 384 } }, service: 'svc', certificate: 'PEM' },
      request: {
        time: { seconds: 1_700_000_000, nanos: 5 },
        http: {
          id: 'req-1', method: 'GET', path: '/api/v1/tenants/acme/projects/p-42?x=1&y=%20', host: 'API.example:8443',
          scheme: 'https', protocol: 'HTTP/2', query: 'x=1', fragment: 'f', size: 12, body: 'b', rawBody: Buffer.from([0xff]),
          headers: {
            ':authority': 'api.example', Authorization: 'Bearer abc.def.ghi', 'x-long': 'l'.repeat(5000),
            'x-utf8': 'zoë — 日本 😀', 'x-request-id': 'rid', __proto__x: 'p', '': 'empty name',
          },
        },
      },
      contextExtensions: { virtual_host: 'orders', '': '' },
      metadataContext: { filterMetadata: {
        'envoy.filters.http.jwt_authn': { fields: { payload: { structValue: { fields: {
          sub: { stringValue: 'alice' }, n: { numberValue: -3.25 }, admin: { boolValue: true }, z: { nullValue: 0 },
          roles: { listValue: { values: [{ stringValue: 'a' }, { numberValue: 1e300 }, { structValue: { fields: {} } }] } },
        } } } } },
        empty: {},
      } },
      routeMetadataContext: { filterMetadata: { r: { fields: { a: { stringValue: 'b' } } } } },
      tlsSession: { sni: 'api.example' },
    },
  }],
  ['header_map with raw values', {
    attributes: { request: { http: { method: 'POST', path: '/', headers: { ignored: 'x' }, headerMap: { headers: [
      { key: 'X-Role', rawValue: Buffer.from('reader') }, { key: 'x-role', value: 'admin' }, { key: 'bad', rawValue: Buffer.from([0xc3, 0x28]) },
    ] } } } },
  }],
];

// Generated ids differ between two reads; metadata is compared with what it
// should be (see the next test), not with protobufjs.
const comparable = (req: ReturnType<typeof viaReader>): unknown =>
  plain({ ...req, requestId: req.requestId.length === 36 ? 'generated' : req.requestId, filterMetadata: undefined });

for (const [name, obj] of samples) {
  t.test(`same request as protobufjs: ${name}`, async (t) => {
    const buf = encode(obj);
    t.same(comparable(viaReader(buf)), comparable(viaProtobufjs(buf)));
  });
}

t.test('metadata Structs arrive as the JSON they encode', async (t) => {
  const req = viaReader(encode(samples[2]![1]));
  t.same(plain(req.filterMetadata), {
    'envoy.filters.http.jwt_authn': { payload: { sub: 'alice', n: -3.25, admin: true, z: null, roles: ['a', 1e300, {}] } },
    empty: {},
  });
});

/** A length-delimited field, written by hand (protobufjs's fromObject refuses deep nesting itself). */
function field(tag: number, payload: Buffer): Buffer {
  const len: number[] = [];
  let n = payload.length;
  while (n >= 0x80) {
    len.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  len.push(n);
  return Buffer.concat([Buffer.from([tag, ...len]), payload]);
}

/** CheckRequest whose metadata holds a Struct nested `levels` deep: { d: { d: ... {} } }. */
function deepMetadata(levels: number): Buffer {
  let struct: Buffer = Buffer.alloc(0);
  for (let i = 0; i < levels; i++) {
    const value = field(0x2a, struct); // Value.struct_value = 5
    struct = field(0x0a, Buffer.concat([field(0x0a, Buffer.from('d')), field(0x12, value)])); // Struct.fields entry
  }
  const metadata = field(0x0a, Buffer.concat([field(0x0a, Buffer.from('x')), field(0x12, struct)])); // filter_metadata entry
  const http = field(0x12, field(0x22, Buffer.from('/'))); // Request.http { path }
  const attrs = Buffer.concat([field(0x22, http), field(0x5a, metadata)]); // request = 4, metadata_context = 11
  return field(0x0a, attrs);
}

t.test('metadata nesting: the same limit as protobufjs, never a crash', async (t) => {
  const ok = deepMetadata(40);
  t.equal(viaReader(ok).malformed, viaProtobufjs(ok).malformed, '40 levels: same answer as protobufjs');
  t.equal(viaReader(ok).malformed, undefined);
  const tooDeep = deepMetadata(60);
  t.throws(() => CheckRequest.decode(tooDeep), 'protobufjs refuses 60 levels');
  t.throws(() => decodeCheckRequest(tooDeep), { name: 'MalformedProtobuf' }, 'so does the reader');
  for (const levels of [47, 48, 49]) {
    let theirs = 'ok';
    try {
      CheckRequest.decode(deepMetadata(levels));
    } catch {
      theirs = 'refused';
    }
    let ours = 'ok';
    try {
      decodeCheckRequest(deepMetadata(levels));
    } catch {
      ours = 'refused';
    }
    t.equal(ours, theirs, `${levels} levels: ${theirs}`);
  }
});

t.test('bytes that are not a CheckRequest throw MalformedProtobuf', async (t) => {
  const good = encode({ attributes: { request: { http: { method: 'GET', path: '/files/QQQQ', host: 'h' } } } });
  const nonUtf8 = Buffer.from(good);
  nonUtf8.set([0xff, 0xfe, 0xc3, 0x28], nonUtf8.indexOf('/files/QQQQ') + 7);
  const cases: Array<[string, Buffer]> = [
    ['non-UTF-8 path', nonUtf8],
    ['truncated', good.subarray(0, good.length - 3)],
    ['length beyond the end', Buffer.from([0x0a, 0x7f, 0x00])],
    ['field number 0', Buffer.from([0x00, 0x01])],
    ['wire type 7', Buffer.from([0x0f])],
    ['unterminated varint', Buffer.from([0x08, 0xff, 0xff])],
    ['end group without start', Buffer.from([0x0c])],
  ];
  for (const [name, buf] of cases) {
    t.throws(() => decodeCheckRequest(buf), { name: 'MalformedProtobuf' }, name);
  }
  t.throws(() => CheckRequest.decode(nonUtf8), 'protobufjs refuses the non-UTF-8 path too');
});

t.test('unknown fields, groups and unexpected wire types are skipped', async (t) => {
  const good = encode({ attributes: { request: { http: { method: 'GET', path: '/p' } } } });
  // field 99 varint, field 98 group { field 1 fixed32 } and attributes' field 4 as a varint (wrong type), then the real message.
  const extra = Buffer.from([0x98, 0x06, 0x01, 0x93, 0x06, 0x0d, 1, 2, 3, 4, 0x94, 0x06]);
  const buf = Buffer.concat([extra, good]);
  const req = viaReader(buf);
  t.equal(req.path, '/p');
  t.equal(req.method, 'GET');
});

t.test('a name the headers map repeats counts as a repeated header', async (t) => {
  // map<string,string> entries written by hand: key "x-tenant-id" twice.
  const entry = (k: string, v: string): Buffer => {
    const kb = Buffer.from(k);
    const vb = Buffer.from(v);
    const body = Buffer.concat([Buffer.from([0x0a, kb.length]), kb, Buffer.from([0x12, vb.length]), vb]);
    return Buffer.concat([Buffer.from([0x1a, body.length]), body]);
  };
  const http = Buffer.concat([Buffer.from([0x22, 2]), Buffer.from('/a'), entry('x-tenant-id', 'acme'), entry('x-tenant-id', 'evil')]);
  const request = Buffer.concat([Buffer.from([0x12, http.length]), http]);
  const attrs = Buffer.concat([Buffer.from([0x22, request.length]), request]);
  const msg = Buffer.concat([Buffer.from([0x0a, attrs.length]), attrs]);
  const req = viaReader(msg);
  t.same(req.headerList, [['x-tenant-id', 'acme'], ['x-tenant-id', 'evil']]);
  t.equal(req.headers['x-tenant-id'], 'acme,evil');
});
