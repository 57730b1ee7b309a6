// A whole sidecar with every capability that has metrics switched on — remote
// ReBAC against a real OpenFGA-compatible server, a policy bundle, memory
// budgets, a JSONL audit trail shipped to Kafka — and a load that exercises each of them
// (allows, denies by rebac, policy and budget, identity failures).
import type { Test } from 'tap';
import { request } from 'undici';
import { bundleTarball, standinWasm, STANDIN_ENTRYPOINTS, tempDir } from '../policy/helpers.js';
import { startFga } from '../rebac/remote/harness.js';
import { TestKafkaBroker } from '../support/kafka-broker/index.js';
import { startTestSidecar, type TestSidecar } from '../support/sidecar.js';

export interface LoadedSidecar {
  readonly sidecar: TestSidecar;
  /** One round of requests: each capability decides at least once. */
  round(): Promise<void>;
  metricsText(): Promise<string>;
}

export async function startLoadedSidecar(t: Test): Promise<LoadedSidecar> {
  const fga = await startFga(t);
  // A Kafka replica of the trail (the wire-protocol test broker), so the shipping metrics exist too.
  const broker = await new TestKafkaBroker({ partitions: 1 }).start();
  t.teardown(() => broker.stop());
  const root = tempDir(t, 'loaded-sidecar-');
  const bundle = await bundleTarball(root, 'bundle', { wasm: await standinWasm(), manifest: { revision: 'rev-1', roots: ['standin'] } });
  const route = (name: string, method: string, path: string, action: string, type: string, stages: unknown[]) => ({
    name, match: { method, path }, action, resource: { type, id: ':id', tenant: ':tenant' }, stages,
  });
  const s = await startTestSidecar(t, {
    routes: [
      route('deploy', 'POST', '/api/v1/tenants/:tenant/projects/:id/deploy', 'execute', 'project',
        ['tenant', 'rbac', { rebac: { relation: 'can_deploy' } }]),
      route('doc', 'GET', '/api/v1/tenants/:tenant/docs/:id', 'read', 'doc',
        ['tenant', 'rbac', { policy: { entrypoint: STANDIN_ENTRYPOINTS.allow } }]),
      route('report', 'GET', '/api/v1/tenants/:tenant/reports/:id', 'read', 'report',
        ['tenant', 'rbac', { budget: { cost: 1 } }]),
    ],
    // Short cache lifetimes so OpenFGA is asked again during the load.
    rebac: { mode: 'remote', remote: { api_url: fga.apiUrl, store_id: fga.storeId, timeout_ms: 2000, cache: { allow_ttl_ms: 200, deny_ttl_ms: 200 } } },
    policy: { bundle: { file: bundle } },
    budget: { warn_at: 0.25, tenants: { acme: { daily: 40 } } },
    audit: { sinks: [{ jsonl: { dir: 'audit' } }, { kafka: { brokers: [broker.address], timeout_ms: 2000 } }] },
  });
  const alice = { authorization: `Bearer ${await s.token({ sub: 'alice', roles: ['admin'] })}` };
  const bob = { authorization: `Bearer ${await s.token({ sub: 'bob', roles: ['editor'] })}` };
  const send = async (method: string, path: string, headers: Record<string, string> = {}): Promise<void> => {
    const res = await request(s.url('http', path), { method, headers });
    await res.body.dump();
  };
  let n = 0;
  return {
    sidecar: s,
    async round() {
      n++;
      await Promise.all([
        send('POST', '/api/v1/tenants/acme/projects/acme-web/deploy', alice),
        send('POST', `/api/v1/tenants/acme/projects/acme-api/deploy`, bob),
        send('GET', `/api/v1/tenants/acme/docs/d${n}`, bob),
        send('GET', `/api/v1/tenants/acme/reports/r${n}`, bob),
        send('GET', '/api/v1/tenants/acme/reports/anon'),
      ]);
    },
    metricsText: async () => (await request(s.url('admin', '/metrics'))).body.text(),
  };
}
