// The Audit Wall on a real, throwaway PostgreSQL for the sidecar tests:
// config/postgres/audit.sql installed as a DBA would, a login for the
// sidecar in the INSERT-only role, and a `serve` process auditing to it.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import pg from 'pg';
import { restartableServe, until, type Load as DecisionLoad } from './serve-crash-harness.js';

export { until };
import { createTestIssuer, writeJwksFile } from './jwt.js';
import { postgresUnavailableReason, startPostgres, type PostgresServer } from './postgres-server.js';
import { AUDIENCE, ISSUER } from './sidecar.js';

const WALL_SQL = readFileSync(fileURLToPath(new URL('../../config/postgres/audit.sql', import.meta.url)), 'utf8');

/** Why these tests skip here (printed), or undefined; under CI=true a missing PostgreSQL fails instead. */
export function postgresSkip(t: Test): string | undefined {
  const skip = postgresUnavailableReason();
  if (skip !== undefined && process.env.CI === 'true') throw new Error(`CI: ${skip}`);
  if (skip !== undefined) t.comment(`skipping: ${skip}`);
  return skip;
}

export async function startWall(t: Test): Promise<PostgresServer> {
  const server = await startPostgres(t);
  server.psql(WALL_SQL);
  server.psql('CREATE ROLE authz_sidecar LOGIN IN ROLE authz_audit_writer');
  return server;
}

export async function rows(server: PostgresServer, sql = 'SELECT decision_id, controls, chain, seq FROM authz_audit.decisions ORDER BY chain, seq'): Promise<Array<Record<string, unknown>>> {
  const c = new pg.Client({ connectionString: server.url() });
  c.on('error', () => undefined);
  await c.connect();
  try {
    return (await c.query(sql)).rows as Array<Record<string, unknown>>;
  } finally {
    await c.end();
  }
}

export const postgresSink = (server: PostgresServer, chain: string) => ({
  postgres: { url: server.url('authz_sidecar'), chain, timeout_ms: 1000, retry_backoff_ms: { min: 50, max: 300 } },
});

export async function notInTable(server: PostgresServer, load: DecisionLoad): Promise<string[]> {
  const have = new Set((await rows(server, 'SELECT decision_id FROM authz_audit.decisions')).map((r) => r.decision_id as string));
  return [...load.received].filter((id) => !have.has(id));
}

export async function serveSetup(t: Test, server: PostgresServer) {
  const dir = t.testdir({});
  const issuer = await createTestIssuer({ alg: 'ES256', kid: 'k1' });
  writeJwksFile(dir, issuer.jwks);
  const token = await issuer.sign({ sub: 'alice', tenant_id: 'acme', roles: ['viewer'] }, { issuer: ISSUER, audience: AUDIENCE, expiresIn: '1h' });
  const config = join(dir, 'sidecar.yaml');
  writeFileSync(config, `
log: { level: info }
deadline_ms: 2000
identity:
  jwt: { jwks_file: jwks.json, issuer: ${ISSUER}, audience: ${AUDIENCE} }
rbac: { roles: { viewer: { "*": [read] } } }
routes:
  - name: read-project
    match: { method: GET, path: /api/v1/tenants/:tenant/projects/:project }
    action: read
    resource: { type: project, id: ":project", tenant: ":tenant" }
    stages: [tenant, rbac]
    controls: [SOC2:CC6.1]
audit:
  sinks:
    - jsonl: { dir: audit }
    - postgres: { url: "${server.url('authz_sidecar')}", chain: serve, timeout_ms: 1000, retry_backoff_ms: { min: 50, max: 300 } }
  batch: { max_events: 50, max_wait_ms: 5 }
  drain_timeout_ms: 2000
`);
  return { dir, token, start: restartableServe(t, config) };
}


