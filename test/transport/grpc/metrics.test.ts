// authz_grpc_calls_total as /metrics shows it: every answered Check counts
// under {method="Check",code="0"} (counted off prom-client's per-call path and
// handed over when the registry is read), the other outcomes as they happen,
// and two servers on one registry add up in the same series.
import t from 'tap';
import { SidecarMetrics } from '../../../src/observability/metrics.js';
import { CHECK_PATH, HEALTH_CHECK_PATH } from '../../../src/transport/grpc/server.js';
import { CheckRequestType, envoyCheckRequest } from '../../support/grpc-client.js';
import { connect, frame, rawCall } from '../../support/grpc-raw.js';
import { allowDecision, startStubServer } from '../../support/grpc-server.js';

const check = (): Buffer => frame(CheckRequestType.encode(CheckRequestType.fromObject(envoyCheckRequest())).finish());

/** The value of one series of authz_grpc_calls_total, 0 when absent. */
async function calls(metrics: SidecarMetrics, method: string, code: string): Promise<number> {
  const text = await metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`authz_grpc_calls_total{method="${method}",code="${code}"} `));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

t.test('answered Checks are counted in /metrics, across reads and across servers', async (t) => {
  const metrics = new SidecarMetrics({ defaultMetrics: false });
  const a = await startStubServer(() => allowDecision(), { metrics });
  const b = await startStubServer(() => allowDecision(), { metrics });
  const sa = connect(a.port);
  const sb = connect(b.port);
  t.teardown(async () => {
    sa.close();
    sb.close();
    await Promise.all([a.close(), b.close()]);
  });

  t.equal(await calls(metrics, 'Check', '0'), 0, 'nothing before the first call');
  for (let i = 0; i < 3; i++) t.equal((await rawCall(sa, CHECK_PATH, check())).grpcStatus, 0);
  t.equal(await calls(metrics, 'Check', '0'), 3, 'three Checks answered');
  t.equal(await calls(metrics, 'Check', '0'), 3, 'reading /metrics again does not count them twice');

  await rawCall(sb, CHECK_PATH, check());
  await rawCall(sa, CHECK_PATH, check());
  t.equal(await calls(metrics, 'Check', '0'), 5, 'a second server on the same registry adds to the same series');

  const health = await rawCall(sa, HEALTH_CHECK_PATH, frame(Buffer.alloc(0)));
  t.equal(health.grpcStatus, 0);
  t.equal(await calls(metrics, 'HealthCheck', '0'), 1, 'health checks in their own series');
  const unknown = await rawCall(sa, '/nope.Service/Method', frame(Buffer.alloc(0)));
  t.equal(unknown.grpcStatus, 12, 'UNIMPLEMENTED');
  t.equal(await calls(metrics, 'unknown', '12'), 1);
  t.equal(await calls(metrics, 'Check', '0'), 5, 'the Check series unchanged');
});
