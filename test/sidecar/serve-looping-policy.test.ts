// `authz-sidecar serve` (a real process, built to dist/) with a policy that
// loops forever on some inputs (issue 10): the matching request is denied
// `policy_error` once its deadline passes, every port keeps answering, and a
// real SIGTERM still ends the process with exit code 0. Before the module
// was instrumented, that request froze the process until SIGKILL.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { stringify } from 'yaml';
import { bundleTarball, standinWasm, STANDIN_ENTRYPOINTS } from '../policy/helpers.js';
import { AuthzClient } from '../support/grpc-client.js';
import { startServe } from '../support/serve-process.js';

t.test('serve: a policy looping on some inputs denies policy_error and the process keeps serving', async (t) => {
  const dir = t.testdir({});
  await bundleTarball(dir, 'bundle', { wasm: await standinWasm({ spin: 'input' }), manifest: { revision: 'spin-1' } });
  const loopback = { host: '127.0.0.1', port: 0 };
  const route = (name: string, method: string, action: string) => ({
    name, match: { method, path: '/things/:id' }, action, anonymous: true,
    resource: { type: 'thing', id: ':id' }, stages: [{ policy: { entrypoint: STANDIN_ENTRYPOINTS.allow } }],
  });
  const config = join(dir, 'sidecar.yaml');
  writeFileSync(config, stringify({
    server: { grpc: loopback, http: loopback, admin: loopback, proxy: { enabled: false } },
    log: { level: 'info' },
    deadline_ms: 300,
    identity: { trusted_headers: true },
    policy: { bundle: { file: 'bundle.tar.gz' } },
    routes: [route('read', 'GET', 'read'), route('spin', 'POST', 'spin')],
  }));
  const serve = await startServe(config);
  t.teardown(() => serve.kill('SIGKILL'));
  const http = (path: string, method = 'GET') => request(`http://127.0.0.1:${serve.ports.http}${path}`, { method });
  const readOk = async (): Promise<number> => {
    const res = await http('/things/1');
    await res.body.dump();
    return res.statusCode;
  };
  const admin = async (path: string): Promise<{ status: number; text: string }> => {
    const res = await request(`http://127.0.0.1:${serve.ports.admin}${path}`);
    return { status: res.statusCode, text: await res.body.text() };
  };
  // Ready means the bundle passed its smoke evaluation (its input does not spin).
  for (let i = 0; i < 200 && (await admin('/readyz')).status !== 200; i++) await new Promise((r) => setTimeout(r, 50));
  t.equal(await readOk(), 200, 'a read is allowed by the policy');

  const spin = await http('/things/1', 'POST');
  t.equal(spin.statusCode, 503, 'the looping evaluation is stopped and denied');
  t.match(await spin.body.json(), { reason: 'policy_error' });

  t.equal(await readOk(), 200, 'the HTTP port serves the next request');
  t.equal((await admin('/healthz')).status, 200, 'the admin port answers');
  const grpc = new AuthzClient(serve.ports.grpc);
  t.teardown(() => grpc.close());
  const health = await grpc.healthCheck();
  t.equal(health.response?.status, 1, 'gRPC health says SERVING');
  t.match((await admin('/metrics')).text, /authz_policy_evaluation_failures_total\{kind="timeout"\} 1/, 'counted as a timeout');
  t.ok(serve.logs.some((l) => l.msg === 'policy evaluation failed' && l.kind === 'timeout'), 'and logged');

  serve.child.kill('SIGTERM');
  t.equal(await serve.exited, 0, 'SIGTERM ends the process, exit 0');
});
