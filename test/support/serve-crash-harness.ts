// The crash tests' harness (issue 11): a serve config auditing to a trail
// and to the test broker, clients that keep every decision id they were
// answered with, and the check that each is in the trail and in Kafka.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { Pool } from 'undici';
import { queryAuditDir } from '../../src/audit/index.js';
import { TestKafkaBroker } from './kafka-broker/index.js';
import { createTestIssuer, writeJwksFile } from './jwt.js';
import { startServe, untilReady, type ServeProcess } from './serve-process.js';
import { AUDIENCE, ISSUER } from './sidecar.js';

export function writeConfig(dir: string, broker: string, extra = ''): string {
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

/** Clients sending decisions to whichever sidecar is current, keeping every decision id they were answered with. */
export class Load {
  readonly received = new Set<string>();
  refusedUnaudited = 0;
  private pool: Pool | undefined;
  private stopped = false;
  private readonly loops: Promise<void>[] = [];

  constructor(private readonly token: string, private readonly streams: number, private readonly pauseMs: number) {}

  target(port: number | undefined): void {
    const old = this.pool;
    this.pool = port === undefined ? undefined : new Pool(`http://127.0.0.1:${port}`, { connections: this.streams });
    void old?.destroy().catch(() => undefined);
  }

  start(): void {
    for (let i = 0; i < this.streams; i++) this.loops.push(this.loop(i));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
    await this.pool?.destroy().catch(() => undefined);
  }

  private async loop(i: number): Promise<void> {
    let n = 0;
    while (!this.stopped) {
      const pool = this.pool;
      if (pool === undefined) {
        await new Promise((r) => setTimeout(r, 5));
        continue;
      }
      const tenant = ['acme', 'globex', 'initech'][(i + n++) % 3] as string;
      try {
        const res = await pool.request({ method: 'GET', path: `/api/v1/tenants/${tenant}/projects/p${i}`,
          headers: { authorization: `Bearer ${this.token}` } });
        const body = await res.body.text();
        const id = res.headers['x-authz-decision-id'];
        // An audit_unavailable deny is the one answer that is, by design, not recorded (it was refused for that).
        if (body.includes('audit_unavailable')) this.refusedUnaudited++;
        else if (typeof id === 'string') this.received.add(id);
      } catch {
        // the sidecar was killed under this request: no answer, nothing to account for
      }
      if (this.pauseMs > 0) await new Promise((r) => setTimeout(r, this.pauseMs));
    }
  }
}

/** Runs serve until it exits by itself (it may listen first, then refuse): its exit code and stderr. */
export async function exitOf(config: string, opts: { uid?: number; gid?: number } = {}): Promise<{ code: number | null; stderr: string }> {
  try {
    const s = await startServe(config, opts);
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([s.exited, new Promise<'running'>((r) => (timer = setTimeout(() => r('running'), 15_000)))]);
    // Cleared, or the test's process would live on for the rest of the 15 s after every refusal it checks.
    clearTimeout(timer);
    if (code === 'running') await s.kill('SIGKILL');
    return { code: code === 'running' ? null : code, stderr: s.stderr() };
  } catch (err) {
    return { code: (err as { code?: number }).code ?? null, stderr: (err as { stderr?: string }).stderr ?? '' };
  }
}

export async function trailIds(dir: string): Promise<Set<string>> {
  const ids = new Set<string>();
  for await (const m of queryAuditDir(dir, {})) ids.add(m.event.decision_id as string);
  return ids;
}

export async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function setup(t: Test) {
  const dir = t.testdir({});
  const issuer = await createTestIssuer({ alg: 'ES256', kid: 'k1' });
  writeJwksFile(dir, issuer.jwks);
  const token = await issuer.sign({ sub: 'alice', tenant_id: 'acme', roles: ['viewer'] }, { issuer: ISSUER, audience: AUDIENCE, expiresIn: '1h' });
  const broker = await new TestKafkaBroker({ partitions: 3 }).start();
  t.teardown(() => broker.stop());
  const config = writeConfig(dir, broker.address);
  return { dir, token, broker, config, start: restartableServe(t, config) };
}

/** Starts `serve` on `config` (again after a kill), points `load` at it once ready; the last one is killed at teardown. */
export function restartableServe(t: Test, config: string): (load: Load) => Promise<ServeProcess> {
  let current: ServeProcess | undefined;
  t.teardown(async () => {
    await current?.kill('SIGKILL');
  });
  return async (load) => {
    current = await startServe(config);
    await untilReady(current.ports.admin);
    load.target(current.ports.http);
    return current;
  };
}

/**
 * `rounds` lifetimes of serve under `load`, each SIGKILLed at a random point after
 * `answered` more decisions, then one more that answers 100 and is returned running.
 */
export async function killRounds(t: Test, load: Load, start: (load: Load) => Promise<ServeProcess>, rounds: number, answered: number): Promise<ServeProcess> {
  for (let round = 0; round < rounds; round++) {
    const s = await start(load);
    const before = load.received.size;
    await until(() => load.received.size > before + answered, `round ${round}: decisions answered`);
    await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 400)));
    t.equal(await s.kill('SIGKILL'), null, `round ${round}: killed`);
    load.target(undefined);
  }
  const last = await start(load);
  const before = load.received.size;
  await until(() => load.received.size > before + 100, 'the last run answers');
  return last;
}

export async function missingEverywhere(t: Test, dir: string, broker: TestKafkaBroker, load: Load): Promise<void> {
  const inTrail = await trailIds(join(dir, 'audit'));
  const notInTrail = [...load.received].filter((id) => !inTrail.has(id));
  t.same(notInTrail, [], `all ${load.received.size} answered decisions are in the trail`);
  const inKafka = (): Set<string> => new Set(broker.recordsFor('authz-audit').map((r) => r.headers.ce_id as string));
  // One set per poll (not one per id: that was quadratic, and starved the shipper it waits for).
  await until(() => {
    const have = inKafka();
    return [...load.received].every((id) => have.has(id));
  }, 'every answered decision in Kafka', 60_000).catch(() => undefined);
  const kafka = inKafka();
  const notInKafka = [...load.received].filter((id) => !kafka.has(id));
  t.same(notInKafka, [], `all ${load.received.size} answered decisions are in Kafka`);
}

