// The Audit Wall (config/postgres/audit.sql) on a real PostgreSQL: the
// sidecar's role may only INSERT and SELECT; the trigger refuses UPDATE,
// DELETE and TRUNCATE even for the table's owner; `audit verify --postgres`
// names the first row edited, removed, inserted or reordered.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { GENESIS_HASH, chainLine, hashLine } from '../../src/audit/hash-chain.js';
import { verifyPostgres } from '../../src/audit/verify-postgres.js';
import { postgresUnavailableReason, startPostgres, type PostgresServer } from '../support/postgres-server.js';

const WALL_SQL = readFileSync(fileURLToPath(new URL('../../config/postgres/audit.sql', import.meta.url)), 'utf8');

const skip = postgresUnavailableReason();
if (skip !== undefined && process.env.CI === 'true') throw new Error(`CI: ${skip}`);
if (skip !== undefined) t.comment(`skipping: ${skip}`);

/** Installs the wall as a DBA would, with a login for the sidecar. */
export function installWall(server: PostgresServer): void {
  server.psql(WALL_SQL);
  server.psql('CREATE ROLE authz_sidecar LOGIN IN ROLE authz_audit_writer');
}

function event(i: number, chain: string): Record<string, unknown> {
  return {
    schema_version: 1, timestamp: new Date(Date.UTC(2026, 11, 1, 12, 0, i)).toISOString(), decision_id: `${chain}-d-${i}`,
    tenant_id: 'acme', principal: 'alice', principal_kind: 'user', principal_tenant: 'acme', action: 'read',
    resource_type: 'project', resource_id: `p-${i}`, result: i % 3 === 0 ? 'deny' : 'allow', status: i % 3 === 0 ? 403 : 200,
    reason: i % 3 === 0 ? 'rbac_denied' : 'allowed', stage: i % 3 === 0 ? 'rbac' : 'engine', enforcement: 'deny',
    would_deny_reason: null, would_deny_stage: null, would_deny_status: null, route: 'read-project', method: 'GET',
    path: `/p/${i}`, transport: 'grpc', policy_revision: null, fga_model_id: null, budget: { cost: 1, daily: { used: i, limit: 100 } },
    latency_ms: 0.25, client_ip: '10.0.0.1', request_id: `r-${i}`, trace_id: null, controls: ['SOC2:CC6.1'],
  };
}

/** Rows as the sink writes them: a real chain of trail lines. */
async function insertChain(url: string, n: number, chain = 'pod-a'): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  let prev = GENESIS_HASH;
  for (let i = 1; i <= n; i++) {
    const e = event(i, chain);
    const line = chainLine(JSON.stringify(e), i, prev);
    const hash = hashLine(line);
    await c.query(
      `INSERT INTO authz_audit.decisions (decision_id, chain, seq, prev_hash, hash, line, schema_version, "timestamp", tenant_id, principal,
        principal_kind, principal_tenant, action, resource_type, resource_id, result, status, reason, stage, enforcement, route, method, path,
        transport, budget, latency_ms, client_ip, request_id, controls)
       VALUES ($1,$2,$3,$4,$5,$6,1,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26,$27,$28)`,
      [e.decision_id, chain, i, prev, hash, line, e.timestamp, e.tenant_id, e.principal, e.principal_kind, e.principal_tenant, e.action,
        e.resource_type, e.resource_id, e.result, e.status, e.reason, e.stage, e.enforcement, e.route, e.method, e.path, e.transport,
        JSON.stringify(e.budget), e.latency_ms, e.client_ip, e.request_id, e.controls]);
    prev = hash;
  }
  await c.end();
}

t.test('the sidecar role may INSERT and SELECT, nothing else; the trigger stops even the owner', { skip }, async (t) => {
  const server = await startPostgres(t);
  installWall(server);
  await insertChain(server.url('authz_sidecar'), 3);
  const asSidecar = new pg.Client({ connectionString: server.url('authz_sidecar') });
  asSidecar.on('error', () => undefined); // the server stops at teardown
  await asSidecar.connect();
  t.teardown(() => asSidecar.end());
  const count = await asSidecar.query('SELECT count(*)::int AS n FROM authz_audit.decisions');
  t.equal(count.rows[0].n, 3, 'the sidecar role can read what it wrote');
  await t.rejects(asSidecar.query("UPDATE authz_audit.decisions SET reason = 'allowed'"), { code: '42501' }, 'no UPDATE grant');
  await t.rejects(asSidecar.query('DELETE FROM authz_audit.decisions'), { code: '42501' }, 'no DELETE grant');
  await t.rejects(asSidecar.query('TRUNCATE authz_audit.decisions'), { code: '42501' }, 'no TRUNCATE grant');

  const asOwner = new pg.Client({ connectionString: server.url() });
  asOwner.on('error', () => undefined);
  await asOwner.connect();
  t.teardown(() => asOwner.end());
  await t.rejects(asOwner.query("UPDATE authz_audit.decisions SET reason = 'allowed'"), /INSERT-only: UPDATE refused/, 'the trigger refuses the owner\'s UPDATE');
  await t.rejects(asOwner.query('DELETE FROM authz_audit.decisions'), /INSERT-only: DELETE refused/);
  await t.rejects(asOwner.query('TRUNCATE authz_audit.decisions'), /INSERT-only: TRUNCATE refused/);
  t.equal((await asOwner.query('SELECT count(*)::int AS n FROM authz_audit.decisions')).rows[0].n, 3, 'nothing changed');
  t.same(server.psql(WALL_SQL).trim(), '', 'the install script can be run again (idempotent)');
});

t.test('verify --postgres passes an intact chain and names the first edited, removed, inserted or reordered row', { skip }, async (t) => {
  const server = await startPostgres(t);
  installWall(server);
  await insertChain(server.url('authz_sidecar'), 20);
  await insertChain(server.url('authz_sidecar'), 5, 'pod-b');
  const ok = await verifyPostgres({ url: server.url() });
  t.same({ rows: ok.rows, chains: ok.chains, problem: ok.problem }, { rows: 25, chains: 2, problem: undefined });

  // A superuser can disable the trigger and tamper; the chain makes it evident.
  const tamper = (sql: string) => server.psql(`ALTER TABLE authz_audit.decisions DISABLE TRIGGER USER; ${sql}; ALTER TABLE authz_audit.decisions ENABLE TRIGGER USER;`);

  tamper("UPDATE authz_audit.decisions SET reason = 'allowed', result = 'allow', status = 200 WHERE chain = 'pod-a' AND seq = 9");
  let r = await verifyPostgres({ url: server.url() });
  t.match(r.problem, { chain: 'pod-a', seq: 9, decisionId: 'pod-a-d-9', message: /column result differs from the trail line/ }, 'an edited column');
  tamper("UPDATE authz_audit.decisions SET reason = 'rbac_denied', result = 'deny', status = 403 WHERE chain = 'pod-a' AND seq = 9");
  t.equal((await verifyPostgres({ url: server.url() })).problem, undefined, 'restored');

  const line9 = server.psql("SELECT line FROM authz_audit.decisions WHERE chain = 'pod-a' AND seq = 9").trim();
  tamper(`UPDATE authz_audit.decisions SET line = replace(line, 'rbac_denied', 'allowed') WHERE chain = 'pod-a' AND seq = 9`);
  r = await verifyPostgres({ url: server.url() });
  t.match(r.problem, { seq: 9, message: /does not hash to the row's hash/ }, 'an edited line');
  tamper(`UPDATE authz_audit.decisions SET line = '${line9.replace(/'/g, "''")}' WHERE chain = 'pod-a' AND seq = 9`);

  tamper("DELETE FROM authz_audit.decisions WHERE chain = 'pod-a' AND seq = 12");
  r = await verifyPostgres({ url: server.url() });
  t.match(r.problem, { chain: 'pod-a', seq: 13, message: /seq 12 missing: row\(s\) removed/ }, 'a removed row');

  // Reorder two rows of pod-b by swapping their seq.
  tamper("UPDATE authz_audit.decisions SET seq = 100 WHERE chain = 'pod-b' AND seq = 2; UPDATE authz_audit.decisions SET seq = 2 WHERE chain = 'pod-b' AND seq = 3; UPDATE authz_audit.decisions SET seq = 3 WHERE chain = 'pod-b' AND seq = 100");
  r = await verifyPostgres({ url: server.url(), chain: 'pod-b' });
  t.match(r.problem, { chain: 'pod-b', seq: 2, message: /prev_hash is not the previous row's hash/ }, 'reordered rows');
});
