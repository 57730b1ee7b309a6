// No answered decision is ever missing (issue 11): `serve` as a real process
// under load over HTTP ext_authz, SIGKILLed at random points for several
// rounds and restarted; then a 10 s Kafka outage with a SIGKILL in the
// middle. Every decision id a client received must be in the trail and in
// what the test broker (real kafkajs over the Kafka wire protocol) holds.
// Also: a second sidecar on the same trail refuses to start; a trail it
// cannot write refuses too. Needs `npm run build` (it runs dist/).
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { queryAuditDir } from '../../src/audit/index.js';
import { DecisionLoad as Load } from '../support/decision-load.js';
import { TestKafkaBroker } from '../support/kafka-broker/index.js';
import { createTestIssuer, writeJwksFile } from '../support/jwt.js';
import { startServe, untilReady, type ServeProcess } from '../support/serve-process.js';
import { AUDIENCE, ISSUER } from '../support/sidecar.js';

function writeConfig(dir: string, broker: string, extra = ''): string {
  const file = join(dir, 'sidecar.yaml');
  writeFileSync(file, `
log: { level: info }
deadline_ms: 2000
identity:
  jwt: { jwks_file: jwks.json, issuer: ${ISSUER}, audience: ${AUDIENCE}, claims: { subject: sub, tenant: tenant_id, roles: roles } }
rbac:
  roles: { viewer: { "*": [read] } }
routes:
  - name: read-project
    match: { method: GET, path: /api/v1/tenants/:tenant/projects/:project }
    action: read
    resource: { type: project, id: ":project", tenant: ":tenant" }
    stages: [tenant, rbac]
audit:
  sinks:
    - jsonl: { dir: audit }
    - kafka: { brokers: [${broker}], timeout_ms: 1000, retry_backoff_ms: { min: 50, max: 500 } }
  drain_timeout_ms: 2000
${extra}`);
  return file;
}

/** Runs serve until it exits by itself (it may listen first, then refuse): its exit code and stderr. */
async function exitOf(config: string, opts: { uid?: number; gid?: number } = {}): Promise<{ code: number | null; stderr: string }> {
  try {
    const s = await startServe(config, opts);
    const code = await Promise.race([s.exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 15_000))]);
    if (code === 'running') await s.kill('SIGKILL');
    return { code: code === 'running' ? null : code, stderr: s.stderr() };
  } catch (err) {
    return { code: (err as { code?: number }).code ?? null, stderr: (err as { stderr?: string }).stderr ?? '' };
  }
}

async function trailIds(dir: string): Promise<Set<string>> {
  const ids = new Set<string>();
  for await (const m of queryAuditDir(dir, {})) ids.add(m.event.decision_id as string);
  return ids;
}

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function setup(t: Test) {
  const dir = t.testdir({});
  const issuer = await createTestIssuer({ alg: 'ES256', kid: 'k1' });
  writeJwksFile(dir, issuer.jwks);
  const token = await issuer.sign({ sub: 'alice', tenant_id: 'acme', roles: ['viewer'] }, { issuer: ISSUER, audience: AUDIENCE, expiresIn: '1h' });
  const broker = await new TestKafkaBroker({ partitions: 3 }).start();
  t.teardown(() => broker.stop());
  const config = writeConfig(dir, broker.address);
  let current: ServeProcess | undefined;
  t.teardown(async () => {
    await current?.kill('SIGKILL');
  });
  const start = async (load: Load): Promise<ServeProcess> => {
    current = await startServe(config);
    await untilReady(current.ports.admin);
    load.target(current.ports.http);
    return current;
  };
  return { dir, token, broker, config, start };
}

async function missingEverywhere(t: Test, dir: string, broker: TestKafkaBroker, load: Load): Promise<void> {
  const inTrail = await trailIds(join(dir, 'audit'));
  const notInTrail = [...load.received].filter((id) => !inTrail.has(id));
  t.same(notInTrail, [], `all ${load.received.size} answered decisions are in the trail`);
  const inKafka = (): Set<string> => new Set(broker.recordsFor('authz-audit').map((r) => r.headers.ce_id as string));
  await until(() => [...load.received].every((id) => inKafka().has(id)), 'every answered decision in Kafka', 60_000).catch(() => undefined);
  const notInKafka = [...load.received].filter((id) => !inKafka().has(id));
  t.same(notInKafka, [], `all ${load.received.size} answered decisions are in Kafka`);
}

t.test('SIGKILL under load at random points, several rounds: no answered decision missing from the trail or Kafka', async (t) => {
  const { dir, token, broker, start } = await setup(t);
  const load = new Load(token, 16, 0);
  load.start();
  for (let round = 0; round < 3; round++) {
    const s = await start(load);
    const before = load.received.size;
    await until(() => load.received.size > before + 200, `round ${round}: decisions answered`);
    await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 400)));
    t.equal(await s.kill('SIGKILL'), null, `round ${round}: killed`);
    load.target(undefined);
  }
  const last = await start(load);
  const before = load.received.size;
  await until(() => load.received.size > before + 100, 'the last run answers');
  await load.stop();
  t.ok(load.received.size > 1000, `${load.received.size} decisions answered over 4 lifetimes`);
  await missingEverywhere(t, dir, broker, load);
  t.equal(await last.kill('SIGTERM'), 0, 'the last run stops cleanly');
});

t.test('10 s Kafka outage under ~1,000 decisions/s, SIGKILL in the middle, restart: nothing missing, order per tenant kept', async (t) => {
  const { dir, token, broker, start } = await setup(t);
  const load = new Load(token, 16, 8);
  load.start();
  let s = await start(load);
  await until(() => load.received.size > 300, 'load before the outage');
  await broker.stop();
  const outage = Date.now();
  await new Promise((r) => setTimeout(r, 5000));
  await s.kill('SIGKILL');
  load.target(undefined);
  s = await start(load);
  const atRestart = load.received.size;
  await until(() => load.received.size > atRestart + 300, 'answers after the restart, Kafka still down');
  await new Promise((r) => setTimeout(r, Math.max(0, 10_000 - (Date.now() - outage))));
  await broker.start();
  const atRecovery = load.received.size;
  await until(() => load.received.size > atRecovery + 300, 'answers after the recovery');
  await load.stop();
  await missingEverywhere(t, dir, broker, load);
  // Per tenant, the trail order (seq) is the Kafka order, duplicates aside.
  const seqOf = new Map<string, number>();
  for await (const m of queryAuditDir(join(dir, 'audit'), {})) seqOf.set(m.event.decision_id as string, m.event.seq as number);
  for (const tenant of ['acme', 'globex', 'initech']) {
    const seen = new Set<string>();
    const order: number[] = [];
    for (const r of broker.recordsFor('authz-audit').filter((x) => x.key === tenant)) {
      const id = r.headers.ce_id as string;
      if (seen.has(id)) continue;
      seen.add(id);
      order.push(seqOf.get(id) ?? -1);
    }
    t.same(order, [...order].sort((a, b) => a - b), `${tenant}: Kafka holds its events in decision order`);
  }
  t.equal(await s.kill('SIGTERM'), 0);
});

t.test('a second sidecar on the same trail refuses to start; so does one that cannot write its trail', async (t) => {
  const { dir, config } = await setup(t);
  const first = await startServe(config);
  t.teardown(() => first.kill('SIGKILL'));
  await untilReady(first.ports.admin);
  const second = await exitOf(config);
  t.equal(second.code, 1, 'exit 1');
  t.match(second.stderr, /cannot start: audit trail .* is in use by pid \d+/);
  t.equal(await first.kill('SIGKILL'), null);

  // A directory it cannot write (root writes anywhere, so the sidecar runs as nobody then).
  const ro = join(dir, 'ro');
  mkdirSync(join(ro, 'audit'), { recursive: true, mode: 0o555 });
  const roConfig = writeConfig(ro, '127.0.0.1:1');
  copyFileSync(join(dir, 'jwks.json'), join(ro, 'jwks.json'));
  const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
  const refused = await exitOf(roConfig, asNobody);
  t.equal(refused.code, 1, 'exit 1 instead of serving unaudited');
  t.match(refused.stderr, /cannot start: audit trail .*(EACCES|EROFS|permission denied)/i);
});
