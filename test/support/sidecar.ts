// Starts a whole sidecar (real servers on ephemeral loopback ports) from a
// config written to a temp dir, with a test JWT issuer whose JWKS it trusts.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { stringify } from 'yaml';
import { loadConfigFile } from '../../src/config/load.js';
import { createLogger } from '../../src/observability/logger.js';
import { Sidecar } from '../../src/sidecar.js';
import { createTestIssuer, writeJwksFile } from './jwt.js';

export const ISSUER = 'https://issuer.test';
export const AUDIENCE = 'orders-api';

export const PROJECT_ROUTES = [
  { name: 'health', match: { method: 'GET', path: '/healthz' }, action: 'read',
    resource: { type: 'health', id: 'h', tenant: 'public' }, anonymous: true, stages: [] },
  { name: 'read-project', match: { method: 'GET', path: '/api/v1/tenants/:tenant/projects/:project' }, action: 'read',
    resource: { type: 'project', id: ':project', tenant: ':tenant' }, stages: ['tenant', 'rbac'] },
  { name: 'write-project', match: { method: ['PUT', 'PATCH'], path: '/api/v1/tenants/:tenant/projects/:project' },
    action: 'write', resource: { type: 'project', id: ':project', tenant: ':tenant' }, stages: ['tenant', 'rbac'] },
];

export interface TestSidecar {
  sidecar: Sidecar;
  dir: string;
  configFile: string;
  url(server: 'http' | 'admin' | 'proxy', path: string): string;
  token(claims?: Record<string, unknown>, opts?: { expiresIn?: string | number }): Promise<string>;
  writeConfig(doc: Record<string, unknown>): void;
  baseConfig: Record<string, unknown>;
}

export async function startTestSidecar(t: Test, overrides: Record<string, unknown> = {}): Promise<TestSidecar> {
  const dir = t.testdir({});
  const issuer = await createTestIssuer({ alg: 'ES256', kid: 'k1' });
  writeJwksFile(dir, issuer.jwks);
  const loopback = { host: '127.0.0.1', port: 0 };
  const baseConfig: Record<string, unknown> = {
    server: { grpc: loopback, http: loopback, admin: loopback, proxy: { enabled: false } },
    log: { level: 'silent' },
    // Generous: these tests assert behaviour, not speed, and CI machines are busy.
    deadline_ms: 2000,
    identity: { jwt: { jwks_file: 'jwks.json', issuer: ISSUER, audience: AUDIENCE } },
    routes: PROJECT_ROUTES,
    ...overrides,
  };
  const configFile = join(dir, 'sidecar.yaml');
  const writeConfig = (doc: Record<string, unknown>) => writeFileSync(configFile, stringify(doc));
  writeConfig(baseConfig);
  const sidecar = await Sidecar.start({ loaded: loadConfigFile(configFile, {}), log: createLogger('silent') });
  t.teardown(() => sidecar.close());
  return {
    sidecar,
    dir,
    configFile,
    baseConfig,
    writeConfig,
    url: (server, path) => `http://127.0.0.1:${sidecar.ports[server]}${path}`,
    token: (claims = {}, opts = {}) =>
      issuer.sign({ sub: 'alice', tenant_id: 'acme', roles: ['editor'], ...claims }, { issuer: ISSUER, audience: AUDIENCE, expiresIn: opts.expiresIn ?? '1h' }),
  };
}
