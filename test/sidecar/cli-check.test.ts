import t, { type Test } from 'tap';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { main } from '../../src/cli/main.js';
import { createTestIssuer, writeJwksFile } from '../support/jwt.js';
import { AUDIENCE, ISSUER, PROJECT_ROUTES } from '../support/sidecar.js';
import { distChildEnv } from '../support/dist-child-env.js';

function capture() {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  return { io: { stdout, stderr }, out: () => out, err: () => err };
}

async function setup(t: Test) {
  const dir = t.testdir({});
  const issuer = await createTestIssuer({ alg: 'ES256', kid: 'k1' });
  writeJwksFile(dir, issuer.jwks);
  const config = join(dir, 'sidecar.yaml');
  writeFileSync(config, stringify({
    log: { level: 'silent' },
    identity: { jwt: { jwks_file: 'jwks.json', issuer: ISSUER, audience: AUDIENCE } },
    routes: PROJECT_ROUTES,
  }));
  const token = await issuer.sign({ sub: 'alice', tenant_id: 'acme', roles: ['viewer'] }, { issuer: ISSUER, audience: AUDIENCE, expiresIn: '1h' });
  const requestFile = (name: string, path: string, method = 'GET') => {
    const file = join(dir, name);
    writeFileSync(file, JSON.stringify({
      attributes: {
        source: { address: { socketAddress: { address: '10.0.0.7', portValue: 51000 } } },
        request: { http: { id: 'req-42', method, path, host: 'orders.example', scheme: 'https', protocol: 'HTTP/2',
          headers: { authorization: `Bearer ${token}`, 'x-request-id': 'req-42' } } },
        contextExtensions: { cluster: 'eu-1' },
      },
    }));
    return file;
  };
  return { dir, config, requestFile };
}

t.test('check prints the decision and exits 0 when allowed, 3 when denied', async (t) => {
  const { config, requestFile } = await setup(t);
  const ok = capture();
  t.equal(await main(['check', '--config', config, '--request', requestFile('ok.json', '/api/v1/tenants/acme/projects/web')], ok.io), 0);
  const decision = JSON.parse(ok.out()) as Record<string, unknown>;
  t.match(decision, { allowed: true, status: 200, reason: 'allowed', action: 'read', route: 'read-project',
    principal: { id: 'alice', tenant: 'acme' }, resource: { type: 'project', id: 'web', tenant: 'acme' } });
  t.notMatch(ok.out(), /Bearer|eyJ/, 'the token is never printed');

  const denied = capture();
  t.equal(await main(['check', '--config', config, '--request', requestFile('no.json', '/api/v1/tenants/acme/projects/web', 'PUT')], denied.io), 3);
  t.match(JSON.parse(denied.out()), { allowed: false, status: 403, reason: 'rbac_denied', stage: 'rbac' });
});

t.test('check exits 2 on bad usage or input', async (t) => {
  const { dir, config } = await setup(t);
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, '{ not json');
  const c1 = capture();
  t.equal(await main(['check', '--config', config, '--request', bad], c1.io), 2);
  t.match(c1.err(), /cannot read request|JSON/);
  const c2 = capture();
  t.equal(await main(['check', '--config', config], c2.io), 2);
  t.match(c2.err(), /--request/);
  const wrongShape = join(dir, 'shape.json');
  writeFileSync(wrongShape, JSON.stringify({ attributes: { request: { http: { method: 7 } } } }));
  const c3 = capture();
  t.equal(await main(['check', '--config', config, '--request', wrongShape], c3.io), 2);
  const c4 = capture();
  const badConfig = join(dir, 'bad.yaml');
  writeFileSync(badConfig, 'deadline_ms: -1\n');
  t.equal(await main(['check', '--config', badConfig, '--request', wrongShape], c4.io), 2);
  const c5 = capture();
  t.equal(await main(['frobnicate'], c5.io), 2);
  t.match(c5.err(), /unknown command/);
});

t.test('the installed bin runs the same command', async (t) => {
  const { config, requestFile } = await setup(t);
  const run = promisify(execFile);
  const file = requestFile('bin.json', '/api/v1/tenants/acme/projects/web');
  const { stdout } = await run(process.execPath, ['bin/authz-sidecar.js', 'check', '--config', config, '--request', file], { env: distChildEnv() });
  t.match(JSON.parse(stdout), { allowed: true });
  const other = requestFile('bin2.json', '/api/v1/tenants/globex/projects/web');
  const err = await run(process.execPath, ['bin/authz-sidecar.js', 'check', '--config', config, '--request', other], { env: distChildEnv() }).catch((e: { code: number; stdout: string }) => e);
  t.equal((err as { code: number }).code, 3);
  t.match(JSON.parse((err as { stdout: string }).stdout), { reason: 'tenant_mismatch' });
});
