// grpc-timeout feeds the decision deadline; a decide() that never settles is
// answered with a deny, never a hang.
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { AuthzClient, envoyCheckRequest } from '../../support/grpc-client.js';
import { allowDecision, recordingDecide, startStubServer } from '../../support/grpc-server.js';
import { parseGrpcTimeout } from '../../../src/transport/grpc/grpc-timeout.js';
import { decisionBudget } from '../../../src/transport/grpc/server.js';
import type { Decision } from '../../../src/decision/types.js';

const never = (): Promise<Decision> => new Promise<Decision>(() => undefined);

t.test('grpc-timeout units parse to milliseconds; junk is ignored', async (t) => {
  t.equal(parseGrpcTimeout('2H'), 7_200_000);
  t.equal(parseGrpcTimeout('3M'), 180_000);
  t.equal(parseGrpcTimeout('1S'), 1000);
  t.equal(parseGrpcTimeout('250m'), 250);
  t.equal(parseGrpcTimeout('1500u'), 1.5);
  t.equal(parseGrpcTimeout('2000000n'), 2);
  t.equal(parseGrpcTimeout('99999999m'), 99_999_999);
  for (const bad of ['', 'm', '100', '123456789m', '10x', '-5m', '1.5S', ' 5m']) {
    t.equal(parseGrpcTimeout(bad), undefined, `"${bad}" is not a timeout`);
  }
  t.equal(parseGrpcTimeout(undefined), undefined);
});

t.test('the client deadline reaches decide() as a budget below it', async (t) => {
  const { decide, seen } = recordingDecide(() => allowDecision());
  const server = await startStubServer(decide);
  const client = new AuthzClient(server.port);
  t.teardown(async () => { client.close(); await server.close(); });
  const res = await client.check(envoyCheckRequest(), { deadline: Date.now() + 5000 });
  t.equal(res.status.code, grpc.status.OK);
  const budget = seen[0]!.deadlineMs;
  t.type(budget, 'number');
  t.ok(budget! > 0 && budget! < 5000, `budget ${budget} ms is positive and below the 5 s client deadline`);
  t.equal(decisionBudget(200), 175, "Envoy's default 200 ms timeout leaves 175 ms to decide");
  t.equal(decisionBudget(10), 8);
});

t.test('a decide() that never settles is denied deadline_exceeded at maxDecisionMs', async (t) => {
  const server = await startStubServer(never, { maxDecisionMs: 50 });
  const client = new AuthzClient(server.port);
  t.teardown(async () => { client.close(); await server.close(); });
  const res = await client.check(envoyCheckRequest());
  t.equal(res.status.code, grpc.status.OK, 'answered, not failed');
  t.equal(res.response?.status?.code, grpc.status.UNAVAILABLE);
  t.equal(res.response?.status?.message, 'deadline_exceeded');
  t.equal(res.response?.deniedResponse?.status?.code, 503);
  t.match(JSON.parse(res.response?.deniedResponse?.body ?? '{}'), { reason: 'deadline_exceeded' });
});

t.test('a slow decide() under a client deadline is answered with a deny before the client gives up', async (t) => {
  const server = await startStubServer(never, { maxDecisionMs: 60_000 });
  const client = new AuthzClient(server.port);
  t.teardown(async () => { client.close(); await server.close(); });
  // The server answers at decisionBudget(timeout) = timeout - 25 ms; the
  // client deadline is long enough that scheduling noise cannot eat that.
  const res = await client.check(envoyCheckRequest(), { deadline: Date.now() + 1500 });
  t.equal(res.error, undefined, 'no DEADLINE_EXCEEDED on the client');
  t.equal(res.response?.status?.code, grpc.status.UNAVAILABLE);
  t.equal(res.response?.status?.message, 'deadline_exceeded');
});

t.test('decide() throwing or rejecting is a deny, and the server keeps serving', async (t) => {
  let mode: 'throw' | 'reject' | 'allow' = 'throw';
  const server = await startStubServer(() => {
    if (mode === 'throw') throw new Error('boom');
    if (mode === 'reject') return Promise.reject(new Error('down'));
    return allowDecision();
  });
  const client = new AuthzClient(server.port);
  t.teardown(async () => { client.close(); await server.close(); });
  const thrown = await client.check(envoyCheckRequest());
  t.equal(thrown.response?.status?.code, grpc.status.UNAVAILABLE);
  t.equal(thrown.response?.status?.message, 'internal_error');
  mode = 'reject';
  const rejected = await client.check(envoyCheckRequest());
  t.equal(rejected.response?.status?.message, 'internal_error');
  mode = 'allow';
  t.equal((await client.check(envoyCheckRequest())).response?.status?.code ?? 0, 0);
});
