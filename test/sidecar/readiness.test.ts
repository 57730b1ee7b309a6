// While keys are still loading the sidecar already listens, says so on
// /readyz, and denies — it never allows before it can check a token.
// (Recovery once the provider answers is covered by test/identity.)
import t from 'tap';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/observability/logger.js';
import { Sidecar } from '../../src/sidecar.js';
import { createTestIssuer } from '../support/jwt.js';
import { AUDIENCE, ISSUER, PROJECT_ROUTES } from '../support/sidecar.js';

t.test('listening, not ready and failing closed while the remote JWKS has not answered', async (t) => {
  const issuer = await createTestIssuer({ alg: 'ES256', kid: 'k1' });
  const held: ServerResponse[] = [];
  // The identity provider accepts the connection and does not answer (yet).
  const jwks = createServer((_req, res) => void held.push(res));
  await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
  t.teardown(() => { for (const r of held) r.destroy(); jwks.closeAllConnections(); jwks.close(); });
  const url = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;
  const loopback = { host: '127.0.0.1', port: 0 };
  const loaded = parseConfig({
    server: { grpc: loopback, http: loopback, admin: loopback },
    log: { level: 'silent' },
    deadline_ms: 300,
    identity: { jwt: { jwks_url: url, jwks_timeout_ms: 30_000, issuer: ISSUER, audience: AUDIENCE } },
    routes: PROJECT_ROUTES,
  });
  const sidecar = await Sidecar.start({ loaded, log: createLogger('silent'), waitReady: false, watch: false });
  t.teardown(() => sidecar.close());
  const admin = `http://127.0.0.1:${sidecar.ports.admin}/readyz`;
  const token = await issuer.sign({ sub: 'alice', tenant_id: 'acme', roles: ['viewer'] }, { issuer: ISSUER, audience: AUDIENCE, expiresIn: '1h' });
  const check = async () => {
    const res = await request(`http://127.0.0.1:${sidecar.ports.http}/api/v1/tenants/acme/projects/web`, { headers: { authorization: `Bearer ${token}` } });
    const body = await res.body.text();
    return { status: res.statusCode, reason: body ? (JSON.parse(body) as { reason: string }).reason : 'allowed' };
  };

  const notReady = await request(admin);
  t.equal(notReady.statusCode, 503, 'listening, and not ready');
  t.match(await notReady.body.json(), { status: 'not_ready', checks: { identity: false } });
  const early = await check();
  t.not(early.status, 200, 'a request before the keys load is denied');
  t.match(early.reason, /^(jwks_unavailable|deadline_exceeded)$/);

});
