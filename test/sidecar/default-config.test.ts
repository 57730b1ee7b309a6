// The shipped config/sidecar.yaml, as `npm start` serves it, answers what the
// README's Quick start says — run from a copy so the audit files land in a temp dir.
import t from 'tap';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { request } from 'undici';
import { main } from '../../src/cli/main.js';
import { loadConfigFile } from '../../src/config/load.js';
import { createLogger } from '../../src/observability/logger.js';
import { Sidecar } from '../../src/sidecar.js';

async function devToken(args: string[], dir: string): Promise<string> {
  const stdout = new PassThrough();
  let out = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  const code = await main(['dev', 'token', '--key', join(dir, 'config/dev/dev-signing-key.jwk.json'), ...args], { stdout, stderr: new PassThrough() });
  if (code !== 0) throw new Error('dev token failed');
  return out.trim();
}

t.test('the default config: tenant isolation, RBAC, rebac can_deploy, audit chain', async (t) => {
  const dir = t.testdir({});
  cpSync('config', join(dir, 'config'), { recursive: true });
  const env = {
    AUTHZ__SERVER__GRPC__HOST: '127.0.0.1', AUTHZ__SERVER__GRPC__PORT: '0',
    AUTHZ__SERVER__HTTP__HOST: '127.0.0.1', AUTHZ__SERVER__HTTP__PORT: '0',
    AUTHZ__SERVER__ADMIN__HOST: '127.0.0.1', AUTHZ__SERVER__ADMIN__PORT: '0',
    AUTHZ__DEADLINE_MS: '2000',
  };
  const sidecar = await Sidecar.start({ loaded: loadConfigFile(join(dir, 'config/sidecar.yaml'), env), log: createLogger('silent'), watch: false });
  let closed = false;
  t.teardown(async () => { if (!closed) await sidecar.close(); });
  const http = (path: string) => `http://127.0.0.1:${sidecar.ports.http}${path}`;
  const call = async (method: string, path: string, token: string) => {
    const res = await request(http(path), { method, headers: { authorization: `Bearer ${token}` } });
    const text = await res.body.text();
    return { status: res.statusCode, reason: text ? (JSON.parse(text) as { reason: string }).reason : 'allowed' };
  };
  const aliceEditor = await devToken(['--sub', 'alice', '--tenant', 'acme', '--roles', 'editor'], dir);
  t.same(await call('GET', '/api/v1/tenants/acme/projects/web', aliceEditor), { status: 200, reason: 'allowed' });
  t.same(await call('GET', '/api/v1/tenants/globex/projects/web', aliceEditor), { status: 403, reason: 'tenant_mismatch' });
  t.same(await call('DELETE', '/api/v1/tenants/acme/projects/web', aliceEditor), { status: 403, reason: 'rbac_denied' });

  // Deploy needs the `execute` action (RBAC) and `can_deploy` on the project (OpenFGA): org admins only.
  t.same(await call('POST', '/api/v1/tenants/acme/projects/acme-web/deploy', aliceEditor), { status: 200, reason: 'allowed' },
    'alice is admin of org:acme, which owns project:acme-web');
  const bob = await devToken(['--sub', 'bob', '--tenant', 'acme', '--roles', 'editor'], dir);
  t.same(await call('POST', '/api/v1/tenants/acme/projects/acme-web/deploy', bob), { status: 403, reason: 'rebac_denied' },
    'bob is only a member');
  const erin = await devToken(['--sub', 'erin', '--tenant', 'acme', '--roles', 'admin'], dir);
  t.same(await call('POST', '/api/v1/tenants/acme/projects/acme-web/deploy', erin), { status: 403, reason: 'rebac_denied' },
    "globex's admin cannot deploy acme's project even with an admin role and an acme token");

  const ready = await request(`http://127.0.0.1:${sidecar.ports.admin}/readyz`);
  t.match(await ready.body.json(), { status: 'ready', checks: { identity: true, rebac: true, audit: true } });

  await sidecar.close();
  closed = true;
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  t.equal(await main(['audit', 'verify', join(dir, 'audit')], { stdout: out, stderr: out }), 0, text);
  t.match(text, /ok: 6 events/, 'every decision was recorded');
});
