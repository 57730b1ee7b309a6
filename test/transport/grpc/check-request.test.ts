// CheckRequest → AuthzRequest: what decide() sees for what Envoy sends, both
// straight from decoded messages and over the wire through the real server.
import t from 'tap';
import { authzRequestFromCheck, checkRequestFromJson, MAX_HEADER_BYTES } from '../../../src/request/from-check-request.js';
import type { DecodedCheckRequest } from '../../../src/request/check-request-types.js';
import { normalizePath } from '../../../src/request/normalize-path.js';
import { CHECK_PATH } from '../../../src/transport/grpc/server.js';
import { AuthzClient, CheckRequestType, envoyCheckRequest } from '../../support/grpc-client.js';
import { connect, frame, rawCall } from '../../support/grpc-raw.js';
import { denyDecision, recordingDecide, startStubServer } from '../../support/grpc-server.js';

const withHttp = (http: Record<string, unknown>, attrs: Record<string, unknown> = {}): DecodedCheckRequest => ({
  attributes: { request: { http: { method: 'GET', path: '/', host: 'api.example', ...http } }, ...attrs },
});

t.test('headers map: lower-case names, one list entry per name; request id from http.id', async (t) => {
  const req = authzRequestFromCheck(withHttp({ id: 'abc', headers: { 'X-Tenant-Id': 'acme', accept: 'a,b' } }));
  t.equal(req.headers['x-tenant-id'], 'acme');
  t.same(req.headerList, [['x-tenant-id', 'acme'], ['accept', 'a,b']]);
  t.equal(req.requestId, 'abc');
  t.equal(req.transport, 'grpc');
  t.equal(req.malformed, undefined);
});

t.test('header_map (encode_raw_headers): every occurrence kept, repeats joined with ","', async (t) => {
  const req = authzRequestFromCheck(withHttp({
    headers: { ignored: 'because header_map wins' },
    headerMap: { headers: [
      { key: 'X-Role', rawValue: Buffer.from('reader') },
      { key: 'x-role', rawValue: Buffer.from('admin') },
      { key: 'x-request-id', value: 'rid-7' },
    ] },
  }));
  t.equal(req.headers['x-role'], 'reader,admin');
  t.same(req.headerList, [['x-role', 'reader'], ['x-role', 'admin'], ['x-request-id', 'rid-7']]);
  t.equal(req.headers.ignored, undefined);
  t.equal(req.requestId, 'rid-7', 'x-request-id when http.id is empty');
  const bad = authzRequestFromCheck(withHttp({ headerMap: { headers: [{ key: 'x', rawValue: Buffer.from([0xc3, 0x28]) }] } }));
  t.equal(bad.malformed, 'header_not_utf8');
});

t.test('a generated request id when Envoy sent none', async (t) => {
  const a = authzRequestFromCheck(withHttp({}));
  const b = authzRequestFromCheck(withHttp({}));
  t.match(a.requestId, /^[0-9a-f-]{36}$/);
  t.not(a.requestId, b.requestId);
});

t.test('path and query: split, query parsed, repeats joined', async (t) => {
  const req = authzRequestFromCheck(withHttp({ path: '/api/v1/items?limit=10&tag=a&tag=b&q=a%20b' }));
  t.equal(req.rawPath, '/api/v1/items');
  t.equal(req.path, '/api/v1/items');
  t.same({ ...req.query }, { limit: '10', tag: 'a,b', q: 'a b' });
});

t.test('a path the decoder had to repair (U+FFFD) → bad_path_encoding', async (t) => {
  t.equal(authzRequestFromCheck(withHttp({ path: '/a/\uFFFD/b' })).malformed, 'bad_path_encoding');
});

t.test('missing attributes, request or http → missing_attributes', async (t) => {
  t.equal(authzRequestFromCheck({}).malformed, 'missing_attributes');
  t.equal(authzRequestFromCheck({ attributes: {} }).malformed, 'missing_attributes');
  t.equal(authzRequestFromCheck({ attributes: { request: {} } }).malformed, 'missing_attributes');
});

t.test('headers over 64 KiB in total → header_too_large', async (t) => {
  const ok = authzRequestFromCheck(withHttp({ headers: { a: 'x'.repeat(MAX_HEADER_BYTES - 1) } }));
  t.equal(ok.malformed, undefined, 'exactly at the limit is fine');
  const big = authzRequestFromCheck(withHttp({ headers: { a: 'x'.repeat(MAX_HEADER_BYTES) } }));
  t.equal(big.malformed, 'header_too_large');
  const many = authzRequestFromCheck(withHttp({ headerMap: { headers: Array.from({ length: 70 }, (_, i) => ({ key: `h${i}`, value: 'v'.repeat(1000) })) } }));
  t.equal(many.malformed, 'header_too_large');
});

t.test('peers, context extensions, metadata Structs as plain JSON', async (t) => {
  const req = authzRequestFromCheck({
    attributes: {
      source: { address: { socketAddress: { address: '10.1.2.3', portValue: 4444 } }, principal: 'spiffe://td/ns/a/sa/b', labels: { app: 'web' } },
      destination: { address: { pipe: { path: '/run/app.sock' } } },
      request: { http: { method: 'GET', path: '/' } },
      contextExtensions: { virtual_host: 'orders' },
      metadataContext: { filterMetadata: { 'envoy.filters.http.jwt_authn': { fields: {
        payload: { structValue: { fields: {
          sub: { stringValue: 'alice' },
          n: { numberValue: 3 },
          admin: { boolValue: false },
          roles: { listValue: { values: [{ stringValue: 'a' }, { nullValue: 0 }] } },
        } } },
      } } } },
    },
  });
  t.match(req.source, { address: '10.1.2.3', port: 4444, principal: 'spiffe://td/ns/a/sa/b', labels: { app: 'web' } });
  t.match(req.destination, { address: '/run/app.sock', port: undefined, principal: undefined });
  t.equal(req.contextExtensions.virtual_host, 'orders');
  t.same(JSON.parse(JSON.stringify(req.filterMetadata)), {
    'envoy.filters.http.jwt_authn': { payload: { sub: 'alice', n: 3, admin: false, roles: ['a', null] } },
  });
});

t.test('metadata nested beyond the limit → metadata_too_deep, not a crash', async (t) => {
  let deep: Record<string, unknown> = { fields: {} };
  for (let i = 0; i < 100; i++) deep = { fields: { d: { structValue: deep } } };
  const req = authzRequestFromCheck(withHttp({}, { metadataContext: { filterMetadata: { x: deep } } }));
  t.equal(req.malformed, 'metadata_too_deep');
});

t.test('proto3 JSON: camelCase or original names, Struct as JSON, Timestamp as RFC 3339', async (t) => {
  const snake = checkRequestFromJson({
    attributes: {
      source: { address: { socket_address: { address: '10.0.0.1', port_value: 80 } }, principal: 'spiffe://td/x' },
      request: {
        time: '2024-05-01T12:00:00.5Z',
        http: { method: 'POST', path: '/a/b?x=1', host: 'API.example', headers: { Authorization: 'Bearer t' }, size: '-1',
          header_map: { headers: [{ key: 'x-raw', raw_value: Buffer.from('v').toString('base64') }] } },
      },
      context_extensions: { k: 'v' },
      metadata_context: { filter_metadata: { ns: { a: { b: [1, 'two', null] } } } },
    },
  });
  t.match(snake, { transport: 'cli', method: 'POST', path: '/a/b', host: 'api.example' });
  t.same(snake.headerList, [['x-raw', 'v']], 'header_map preferred');
  t.same(JSON.parse(JSON.stringify(snake.filterMetadata)), { ns: { a: { b: [1, 'two', null] } } });
  t.equal(snake.source.port, 80);
  const camel = checkRequestFromJson({
    attributes: { request: { http: { method: 'GET', path: '/', headers: { 'x-request-id': 'r1' } } }, contextExtensions: { k: 'v' } },
  });
  t.equal(camel.requestId, 'r1');
  t.equal(camel.contextExtensions.k, 'v');
  t.equal(checkRequestFromJson({}).malformed, 'missing_attributes', 'valid JSON, empty request: a deny, not an error');
});

t.test('proto3 JSON: bad input throws a message naming the field', async (t) => {
  const bad: Array<[unknown, RegExp]> = [
    [null, /CheckRequest: expected a JSON object/],
    [[], /CheckRequest: expected a JSON object/],
    [{ attributes: { request: { http: { path: 7 } } } }, /attributes\.request\.http\.path: expected a string/],
    [{ attributes: { request: { http: { headers: { a: 1 } } } } }, /headers\.a: expected a string/],
    [{ attributes: { request: { time: 'yesterday' } } }, /time: expected an RFC 3339 timestamp/],
    [{ attributes: { request: { http: { rawBody: '***' } } } }, /rawBody: expected base64/],
    [{ attributes: { source: { address: { socketAddress: { portValue: 70000 } } } } }, /portValue: expected an integer/],
    [{ atributes: {} }, /unknown field "atributes"/],
    [{ attributes: { metadataContext: { filterMetadata: { ns: 'x' } } } }, /filterMetadata\.ns: expected a JSON object/],
  ];
  for (const [input, message] of bad) t.throws(() => checkRequestFromJson(input), message, JSON.stringify(input));
});

t.test('over the wire: big headers, non-UTF-8 and traversal paths reach decide() normalized or malformed', async (t) => {
  const { decide, seen } = recordingDecide(() => denyDecision(403, 'seen'));
  const server = await startStubServer(decide);
  const client = new AuthzClient(server.port);
  const session = connect(server.port);
  t.teardown(async () => { client.close(); session.close(); await server.close(); });
  const last = () => seen.at(-1)!.req;

  await client.check(envoyCheckRequest({ headers: { 'x-big': 'b'.repeat(64 * 1024) } }));
  t.equal(last().malformed, 'header_too_large', '64 KiB header');

  // protobufjs only writes valid UTF-8, so patch raw bytes into an encoded path.
  const encoded = Buffer.from(CheckRequestType.encode(CheckRequestType.fromObject(envoyCheckRequest({ path: '/files/QQQQ' }))).finish());
  const at = encoded.indexOf('/files/QQQQ');
  encoded.set([0xff, 0xfe, 0xc3, 0x28], at + 7);
  const res = await rawCall(session, CHECK_PATH, frame(encoded));
  t.equal(res.grpcStatus, 0);
  // proto3 strings must be UTF-8: the decoder refuses the message outright.
  t.equal(last().malformed, 'malformed_request', 'non-UTF-8 bytes in the path');
  t.equal(res.body.length > 5, true, 'answered with a CheckResponse');

  for (const path of ['/a/../admin', '/a/%2e%2e/admin', '/a/%2E%2E/admin', '//admin', '/a/./b/../../admin', '/a%2f..%2fadmin', '/a\\..\\admin']) {
    await client.check(envoyCheckRequest({ path }));
    const req = last();
    t.equal(req.rawPath, path, `${path}: raw path kept`);
    const expected = normalizePath(path);
    if (expected.ok) {
      t.equal(req.path, expected.path, `${path} → ${req.path}`);
      t.equal(req.malformed, undefined);
      t.notMatch(req.path, /(^|\/)\.\.?(\/|$)|\/\/|%2e/i, `${path}: no dot segments or empty segments left`);
    } else {
      t.equal(req.malformed, expected.reason, `${path}: malformed ${expected.reason}`);
    }
  }
  t.equal(seen.find((s) => s.req.rawPath === '/a/../admin')?.req.path, '/admin');
  t.equal(seen.find((s) => s.req.rawPath === '//admin')?.req.path, '/admin');
});
