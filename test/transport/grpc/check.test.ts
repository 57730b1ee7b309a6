// Interop: a real @grpc/grpc-js client against our node:http2 server.
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { AuthzClient, envoyCheckRequest, headerRecord } from '../../support/grpc-client.js';
import { allowDecision, denyDecision, recordingDecide, startStubServer } from '../../support/grpc-server.js';
import type { Decision } from '../../../src/decision/types.js';

const OVERWRITE_IF_EXISTS_OR_ADD = 2;

t.test('allow: status OK, upstream and response headers overwrite, decision id on both', async (t) => {
  const decision = allowDecision({ 'x-authz-principal': 'alice', 'x-authz-tenant': 'acme' }, { 'x-budget-left': '7' });
  const { decide, seen } = recordingDecide(() => decision);
  const server = await startStubServer(decide);
  const client = new AuthzClient(server.port);
  t.teardown(async () => { client.close(); await server.close(); });

  const res = await client.check(envoyCheckRequest({ method: 'POST', path: '/api/v1/things?x=1', headers: { authorization: 'Bearer t' } }));
  t.equal(res.error, undefined);
  t.equal(res.status.code, grpc.status.OK, 'transport status OK');
  t.equal(res.response?.status?.code ?? 0, 0, 'CheckResponse.status OK');
  const ok = res.response?.okResponse;
  t.ok(ok, 'ok_response set');
  t.same(headerRecord(ok?.headers), decision.upstreamHeaders);
  t.same(headerRecord(ok?.responseHeadersToAdd), decision.responseHeaders);
  for (const o of [...(ok?.headers ?? []), ...(ok?.responseHeadersToAdd ?? [])]) {
    t.equal(o.appendAction, OVERWRITE_IF_EXISTS_OR_ADD, `${o.header?.key} overwrites`);
    t.equal(o.append, undefined, 'deprecated append not set');
  }
  t.equal(res.response?.deniedResponse, undefined);
  t.equal(res.response?.dynamicMetadata?.fields?.decision_id?.stringValue, decision.decisionId);

  t.equal(seen.length, 1);
  const req = seen[0]!.req;
  t.match(req, { transport: 'grpc', method: 'POST', path: '/api/v1/things', rawPath: '/api/v1/things', requestId: 'req-1', host: 'api.example' });
  t.equal(req.query.x, '1');
  t.equal(req.headers.authorization, 'Bearer t');
  t.match(req.source, { address: '10.0.0.7', port: 51234 });
  t.equal(seen[0]!.deadlineMs, undefined, 'no grpc-timeout → no client budget');
});

t.test('each deny status maps to its gRPC code with a denied_response', async (t) => {
  const cases: Array<[Decision['status'], number]> = [
    [401, grpc.status.UNAUTHENTICATED],
    [403, grpc.status.PERMISSION_DENIED],
    [429, grpc.status.RESOURCE_EXHAUSTED],
    [503, grpc.status.UNAVAILABLE],
  ];
  let next: Decision = denyDecision(403, 'x');
  const server = await startStubServer(() => next);
  const client = new AuthzClient(server.port);
  t.teardown(async () => { client.close(); await server.close(); });

  for (const [status, code] of cases) {
    next = denyDecision(status as 401, `reason_${status}`, { responseHeaders: { 'www-authenticate': 'Bearer', 'x-authz-decision-id': 'd-1' }, decisionId: 'd-1' });
    const res = await client.check(envoyCheckRequest());
    t.equal(res.status.code, grpc.status.OK, `${status}: the call itself succeeds`);
    t.equal(res.response?.status?.code, code, `${status} → grpc code ${code}`);
    t.equal(res.response?.status?.message, `reason_${status}`);
    const denied = res.response?.deniedResponse;
    t.equal(denied?.status?.code, status, 'denied_response carries the HTTP status');
    const headers = headerRecord(denied?.headers);
    t.equal(headers['content-type'], 'application/json');
    t.equal(headers['www-authenticate'], 'Bearer');
    t.equal(headers['x-authz-decision-id'], 'd-1');
    t.same(JSON.parse(denied?.body ?? ''), {
      error: ({ 401: 'unauthenticated', 403: 'forbidden', 429: 'too many requests', 503: 'unavailable' } as Record<number, string>)[status],
      reason: `reason_${status}`,
      decision_id: 'd-1',
    });
    t.equal(res.response?.okResponse, undefined);
  }
});

t.test('a stage-chosen deny body is sent as is', async (t) => {
  const server = await startStubServer(() => denyDecision(403, 'policy_denied', { body: '{"custom":true}' }));
  const client = new AuthzClient(server.port);
  t.teardown(async () => { client.close(); await server.close(); });
  const res = await client.check(envoyCheckRequest());
  t.equal(res.response?.deniedResponse?.body, '{"custom":true}');
});

t.test('a decision without the id header still carries it', async (t) => {
  const d = { ...allowDecision(), upstreamHeaders: {}, responseHeaders: {} };
  const server = await startStubServer(() => d);
  const client = new AuthzClient(server.port);
  t.teardown(async () => { client.close(); await server.close(); });
  const res = await client.check(envoyCheckRequest());
  t.equal(headerRecord(res.response?.okResponse?.headers)['x-authz-decision-id'], d.decisionId);
  t.equal(headerRecord(res.response?.okResponse?.responseHeadersToAdd)['x-authz-decision-id'], d.decisionId);
});

t.test('async decide is answered when it settles', async (t) => {
  const server = await startStubServer(async () => {
    await new Promise((r) => setTimeout(r, 5));
    return denyDecision(429, 'budget_exhausted');
  });
  const client = new AuthzClient(server.port);
  t.teardown(async () => { client.close(); await server.close(); });
  const res = await client.check(envoyCheckRequest());
  t.equal(res.response?.status?.code, grpc.status.RESOURCE_EXHAUSTED);
});

t.test('unknown method → UNIMPLEMENTED; Health/Watch → UNIMPLEMENTED', async (t) => {
  const server = await startStubServer(() => allowDecision());
  const client = new AuthzClient(server.port);
  t.teardown(async () => { client.close(); await server.close(); });
  const other = new grpc.Client(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
  t.teardown(() => other.close());
  const err = await new Promise<grpc.ServiceError | null>((resolve) => {
    other.makeUnaryRequest('/envoy.service.auth.v2.Authorization/Check', (x: Buffer) => x, (x: Buffer) => x,
      Buffer.alloc(0), (e) => resolve(e));
  });
  t.equal(err?.code, grpc.status.UNIMPLEMENTED);
  t.match(err?.details, /unknown method/);
  const watch = await client.healthWatch();
  t.equal(watch.code, grpc.status.UNIMPLEMENTED);
});

t.test('health: SERVING / NOT_SERVING follows isServing(); unknown service → NOT_FOUND', async (t) => {
  let serving = true;
  const server = await startStubServer(() => allowDecision(), { isServing: () => serving });
  const client = new AuthzClient(server.port);
  t.teardown(async () => { client.close(); await server.close(); });
  t.equal((await client.healthCheck()).response?.status, 1, 'SERVING');
  t.equal((await client.healthCheck('envoy.service.auth.v3.Authorization')).response?.status, 1);
  serving = false;
  const down = await client.healthCheck();
  t.equal(down.error, undefined, 'NOT_SERVING is an answer, not an error');
  t.equal(down.response?.status, 2, 'NOT_SERVING');
  const unknown = await client.healthCheck('no.such.Service');
  t.equal(unknown.error?.code, grpc.status.NOT_FOUND);
});

t.test('many concurrent streams on one connection each get their own answer', async (t) => {
  const { decide } = recordingDecide((req) =>
    Number(req.headers['x-n']) % 2 === 0
      ? allowDecision({ 'x-echo': req.headers['x-n']! })
      : Promise.resolve(denyDecision(403, `odd_${req.headers['x-n']}`)),
  );
  const server = await startStubServer(decide);
  const client = new AuthzClient(server.port);
  t.teardown(async () => { client.close(); await server.close(); });
  const n = 400;
  const results = await Promise.all(
    Array.from({ length: n }, (_, i) => client.check(envoyCheckRequest({ headers: { 'x-n': String(i) } }))),
  );
  let wrong = 0;
  results.forEach((res, i) => {
    if (i % 2 === 0) {
      if (headerRecord(res.response?.okResponse?.headers)['x-echo'] !== String(i)) wrong++;
    } else if (res.response?.status?.message !== `odd_${i}`) wrong++;
  });
  t.equal(wrong, 0, `all ${n} answers matched their requests`);
});
