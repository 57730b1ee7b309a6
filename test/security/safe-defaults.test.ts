// Issue 9, finding 4: the shipped defaults bound every port to 0.0.0.0 and
// trusted Envoy's jwt_authn metadata, so any pod reaching port 9191 could send
// a CheckRequest with a forged payload and be any user of any tenant. Now
// every port listens on loopback unless configured otherwise, and the
// metadata is trusted only with `envoy_jwt_authn.enabled: true`.
import t from 'tap';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfigFile } from '../../src/config/load.js';
import { createLogger } from '../../src/observability/logger.js';
import { Sidecar } from '../../src/sidecar.js';
import { AuthzClient, envoyCheckRequest } from '../support/grpc-client.js';

const FORGED = {
  'envoy.filters.http.jwt_authn': { fields: { jwt_payload: { structValue: { fields: {
    sub: { stringValue: 'ceo' }, tenant_id: { stringValue: 'acme' }, roles: { listValue: { values: [{ stringValue: 'admin' }] } },
    exp: { numberValue: Math.floor(Date.now() / 1000) + 3600 },
  } } } } },
};

function forgedCheck(): object {
  const req = envoyCheckRequest({ path: '/api/v1/tenants/acme/projects/web' }) as { attributes: Record<string, unknown> };
  req.attributes.metadataContext = { filterMetadata: FORGED };
  return req;
}

t.test('the shipped config and the schema defaults listen on loopback only', async (t) => {
  const shipped = loadConfigFile('config/sidecar.yaml', {}).config.server;
  for (const name of ['grpc', 'http', 'admin', 'proxy'] as const) t.equal(shipped[name].host, '127.0.0.1', `config/sidecar.yaml: ${name}`);
  t.equal(loadConfigFile('config/sidecar.yaml', {}).config.identity.envoy_jwt_authn?.enabled, false, 'jwt_authn metadata not trusted');
  const dir = t.testdir({ 'bare.yaml': 'routes: []\n' });
  const bare = loadConfigFile(join(dir, 'bare.yaml'), {}).config.server;
  for (const name of ['grpc', 'http', 'admin', 'proxy'] as const) t.equal(bare[name].host, '127.0.0.1', `schema default: ${name}`);
  t.equal(bare.grpc.max_concurrent_streams, 100);
  t.equal(bare.grpc.max_message_bytes, 256 * 1024);
});

t.test('the shipped config: a forged jwt_authn payload on the gRPC port is nobody', async (t) => {
  const dir = t.testdir({});
  cpSync('config', join(dir, 'config'), { recursive: true });
  // Hosts as shipped (loopback); ports ephemeral. Run from a copy: the audit trail lands in the temp dir.
  const env = { AUTHZ__SERVER__GRPC__PORT: '0', AUTHZ__SERVER__HTTP__PORT: '0', AUTHZ__SERVER__ADMIN__PORT: '0',
    AUTHZ__DEADLINE_MS: '2000' };
  const loaded = loadConfigFile(join(dir, 'config/sidecar.yaml'), env);
  const sidecar = await Sidecar.start({ loaded, log: createLogger('silent'), watch: false });
  t.teardown(() => sidecar.close());
  const client = new AuthzClient(sidecar.ports.grpc!);
  t.teardown(() => client.close());
  const res = await client.check(forgedCheck());
  t.equal(res.response?.status?.code, 16, 'UNAUTHENTICATED: the payload is not an identity');
  t.match(JSON.parse(res.response?.deniedResponse?.body ?? '{}'), { reason: 'no_identity' });
});
