// `authz-sidecar serve` (a real process) whose remote JWKS is down at start
// (issue 14, item 7): it does not exit; it listens, reports not ready, denies
// `jwks_unavailable`, retries with backoff and becomes ready once the key
// server comes up — here a real HTTP server started late on the very port
// the config names. SIGTERM then ends it with exit code 0.
import t from 'tap';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { request } from 'undici';
import { closedPortUrl } from '../identity/jwks-server.js';
import { until } from '../policy/helpers.js';
import { startServe } from '../support/serve-process.js';
import { createTestIssuer } from '../support/jwt.js';
import { AUDIENCE, ISSUER } from '../support/sidecar.js';

t.test('serve: a JWKS that is down at start; ready once it comes up', async (t) => {
  const dir = t.testdir({});
  cpSync('config/fga', join(dir, 'fga'), { recursive: true });
  const issuer = await createTestIssuer({ alg: 'ES256', kid: 'k1' });
  const jwksUrl = await closedPortUrl();
  const yaml = readFileSync('config/sidecar.yaml', 'utf8')
    .replace('jwks_file: dev/jwks.json', `jwks_url: ${jwksUrl}`)
    .replace('https://issuer.example', ISSUER)
    .replace('audience: orders-api', `audience: ${AUDIENCE}`)
    .replace('deadline_ms: 50', 'deadline_ms: 2000')
    .replace('- jsonl: { dir: ../audit }', '- jsonl: { dir: audit }')
    .replace('spool: { dir: ../audit/spool }', 'spool: { dir: spool }');
  t.match(yaml, /jwks_url: http/, 'the config names the remote JWKS');
  const config = join(dir, 'sidecar.yaml');
  writeFileSync(config, yaml);
  const serve = await startServe(config);
  t.teardown(() => serve.kill('SIGKILL'));
  const token = await issuer.sign({ sub: 'alice', tenant_id: 'acme', roles: ['editor'] }, { issuer: ISSUER, audience: AUDIENCE, expiresIn: '1h' });
  const decide = async () => {
    const res = await request(`http://127.0.0.1:${serve.ports.http}/api/v1/tenants/acme/projects/p1`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.statusCode, body: await res.body.text() };
  };
  const readyz = async () => {
    const res = await request(`http://127.0.0.1:${serve.ports.admin}/readyz`);
    await res.body.dump();
    return res.statusCode;
  };

  await until(() => serve.logs.filter((l) => l.msg === 'JWKS fetch failed').length >= 2, 15_000, 'a retry after the first failed fetch');
  t.equal(serve.child.exitCode, null, 'serve keeps running');
  t.equal(await readyz(), 503, 'not ready');
  const denied = await decide();
  t.equal(denied.status, 401);
  t.match(JSON.parse(denied.body), { reason: 'jwks_unavailable' });

  // The identity provider comes back, on the port the config names.
  const jwks = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(issuer.jwks)));
  await new Promise<void>((resolve) => jwks.listen(Number(new URL(jwksUrl).port), '127.0.0.1', resolve));
  t.teardown(() => {
    jwks.closeAllConnections();
    return new Promise<void>((resolve) => jwks.close(() => resolve()));
  });
  await until(async () => (await readyz()) === 200, 60_000, 'ready once the keys load');
  t.equal((await decide()).status, 200, 'the same token is allowed now');

  serve.child.kill('SIGTERM');
  t.equal(await serve.exited, 0, 'SIGTERM ends it, exit 0');
});
