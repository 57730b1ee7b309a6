// Every stage on one route, through the whole sidecar: the shipped default
// config (config/sidecar.yaml: its RBAC roles, its embedded ReBAC model and
// tuples) extended with a policy bundle (the test stand-in module, which allows
// only the action "read"), a memory budget, and audit to the JSONL trail and a
// Kafka broker (the test broker, speaking the Kafka wire protocol to kafkajs).
// Over real gRPC and HTTP servers, each stage's effect is checked in the
// answer, in /metrics and in the audit event (trail and broker).
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { request } from 'undici';
import { parse } from 'yaml';
import { AuthzClient, envoyCheckRequest, headerRecord } from '../support/grpc-client.js';
import { TestKafkaBroker } from '../support/kafka-broker/index.js';
import { standinWasm, STANDIN_ENTRYPOINTS, tempDir, until, writeBundleDir } from '../policy/helpers.js';
import { startTestSidecar } from '../support/sidecar.js';

const CONFIG = new URL('../../config/', import.meta.url).pathname;
const shipped = parse(readFileSync(join(CONFIG, 'sidecar.yaml'), 'utf8')) as { rbac: unknown; routes: unknown[] };
const EVERY_STAGE = ['tenant', 'rbac', { rebac: { relation: 'can_deploy' } }, { policy: { entrypoint: STANDIN_ENTRYPOINTS.allow } }, { budget: { cost: 1 } }];
const PIPELINE_PATH = '/api/v1/tenants/:tenant/projects/:project/pipeline';
const DAILY = 3;

t.test('tenant, RBAC, ReBAC, policy, budget and audit on one route, over HTTP and gRPC', async (t) => {
  const broker = await new TestKafkaBroker().start();
  t.teardown(() => broker.stop());
  const root = tempDir(t, 'full-pipeline-');
  const bundle = writeBundleDir(join(root, 'bundle'), { wasm: await standinWasm(), manifest: { revision: 'full-1', roots: ['standin'] } });
  const trail = join(root, 'audit');
  const s = await startTestSidecar(t, {
    rbac: shipped.rbac,
    routes: [
      ...shipped.routes,
      { name: 'pipeline-read', match: { method: 'GET', path: PIPELINE_PATH }, action: 'read',
        resource: { type: 'project', id: ':project', tenant: ':tenant' }, stages: EVERY_STAGE },
      { name: 'pipeline-write', match: { method: 'PUT', path: PIPELINE_PATH }, action: 'write',
        resource: { type: 'project', id: ':project', tenant: ':tenant' }, stages: EVERY_STAGE },
    ],
    rebac: { mode: 'embedded', embedded: { model: join(CONFIG, 'fga/model.fga'), tuples: join(CONFIG, 'fga/tuples.yaml') } },
    policy: { bundle: { dir: bundle } },
    budget: { backend: 'memory', tenants: { acme: { daily: DAILY, monthly: 1000 } } },
    audit: {
      sinks: [{ jsonl: { dir: trail } }, { kafka: { brokers: [broker.address], topic: 'authz-audit' } }],
      on_full: 'deny',
      batch: { max_events: 10, max_wait_ms: 20 },
    },
  });
  const grpcClient = new AuthzClient(s.sidecar.ports.grpc!);
  t.teardown(() => grpcClient.close());
  // alice is an admin of org:acme, which owns project:acme-web (config/fga/tuples.yaml): she may deploy it.
  const alice = { authorization: `Bearer ${await s.token({ sub: 'alice', roles: ['editor'] })}` };
  const url = (tenant: string, project: string) => s.url('http', `/api/v1/tenants/${tenant}/projects/${project}/pipeline`);
  const http = async (u: string, headers: Record<string, string>, method: 'GET' | 'PUT' = 'GET') => {
    const res = await request(u, { method, headers });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
  };
  const decisionIds: Record<string, string> = {};

  t.test('allowed through every stage: identity and budget headers, one decision id', async (t) => {
    const res = await http(url('acme', 'acme-web'), alice);
    t.equal(res.status, 200);
    t.match(res.headers, { 'x-authz-principal': 'alice', 'x-authz-tenant': 'acme', 'x-budget-remaining-daily': String(DAILY - 1) });
    decisionIds.allowed = String(res.headers['x-authz-decision-id']);
    const g = await grpcClient.check(envoyCheckRequest({ path: '/api/v1/tenants/acme/projects/acme-web/pipeline', headers: alice }));
    t.equal(g.response?.status?.code ?? 0, grpc.status.OK, 'gRPC: allowed');
    t.equal(headerRecord(g.response?.okResponse?.headers)['x-budget-remaining-daily'], String(DAILY - 2), 'gRPC: the same budget, one less');
  });

  t.test('each stage denies with its own status and reason, and charges nothing', async (t) => {
    const cases: Array<[string, string, Record<string, string>, 'GET' | 'PUT', number, string]> = [
      ['identity', url('acme', 'acme-web'), {}, 'GET', 401, 'no_identity'],
      ['tenant', url('globex', 'globex-shop'), alice, 'GET', 403, 'tenant_mismatch'],
      ['rbac', url('acme', 'acme-web'), { authorization: `Bearer ${await s.token({ roles: ['nobody'] })}` }, 'GET', 403, 'rbac_denied'],
      // dave edits acme-api but is no admin of its owner: no can_deploy.
      ['rebac', url('acme', 'acme-api'), { authorization: `Bearer ${await s.token({ sub: 'dave', roles: ['editor'] })}` }, 'GET', 403, 'rebac_denied'],
      // RBAC lets an editor write and alice may deploy; the stand-in policy allows only reads.
      ['policy', url('acme', 'acme-web'), alice, 'PUT', 403, 'policy_denied'],
    ];
    for (const [stage, u, headers, method, status, reason] of cases) {
      const res = await http(u, headers, method);
      t.equal(res.status, status, `${stage}: ${status}`);
      t.match(res.body, { reason }, `${stage}: ${reason}`);
      decisionIds[stage] = String(res.body.decision_id);
    }
  });

  t.test('the budget: the last unit, then 429 with Retry-After and the JSON body, over HTTP and gRPC', async (t) => {
    const last = await http(url('acme', 'acme-web'), alice);
    t.equal(last.status, 200, 'denials charged nothing: one unit is left');
    t.equal(last.headers['x-budget-remaining-daily'], '0');
    const res = await http(url('acme', 'acme-web'), alice);
    t.equal(res.status, 429);
    const retryAfter = Number(res.headers['retry-after']);
    t.ok(Number.isInteger(retryAfter) && retryAfter > 0 && retryAfter <= 86_400, `Retry-After is whole seconds to UTC midnight (${retryAfter})`);
    t.match(res.body, { error: String, reason: 'budget_exhausted', budget: 'daily', tenant: 'acme', limit: DAILY, used: DAILY, cost: 1,
      retry_after_s: retryAfter, resets_at: String, decision_id: String });
    decisionIds.budget = String(res.body.decision_id);

    const g = await grpcClient.check(envoyCheckRequest({ path: '/api/v1/tenants/acme/projects/acme-web/pipeline', headers: alice }));
    t.equal(g.response?.status?.code, grpc.status.RESOURCE_EXHAUSTED, 'gRPC: RESOURCE_EXHAUSTED');
    t.equal(g.response?.deniedResponse?.status?.code, 429);
    t.match(headerRecord(g.response?.deniedResponse?.headers), { 'retry-after': /^\d+$/ });
    t.match(JSON.parse(g.response?.deniedResponse?.body ?? '{}'), { reason: 'budget_exhausted', budget: 'daily', limit: DAILY });
  });

  t.test('/metrics counts each stage\'s decision', async (t) => {
    const text = await (await request(s.url('admin', '/metrics'))).body.text();
    for (const [stage, reason] of [['tenant', 'tenant_mismatch'], ['rbac', 'rbac_denied'], ['rebac', 'rebac_denied'], ['policy', 'policy_denied'], ['budget', 'budget_exhausted']]) {
      t.match(text, new RegExp(`authz_decisions_total\\{[^}]*reason="${reason}"[^}]*stage="${stage}"[^}]*\\} [1-9]`), `${stage} ${reason}`);
    }
    t.match(text, /authz_decisions_total\{result="allow"[^}]*\} [3-9]/, 'the allows');
    t.match(text, /authz_budget_exhausted_total\{tenant="acme",budget="daily"[^}]*\} 2/, 'two budget refusals');
  });

  t.test('each decision is one audit event, in the trail and on Kafka', async (t) => {
    const readTrail = () => readdirSync(trail).filter((f) => f.endsWith('.jsonl'))
      .flatMap((f) => readFileSync(join(trail, f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>));
    const wanted = Object.values(decisionIds);
    await until(() => wanted.every((id) => readTrail().some((e) => JSON.stringify(e).includes(id))), 15_000, 'events in the trail');
    await until(() => wanted.every((id) => broker.records.some((r) => r.value?.includes(id))), 15_000, 'events on Kafka');
    const events = readTrail();
    const find = (id: string) => events.find((e) => JSON.stringify(e).includes(id));
    t.match(find(decisionIds.allowed!), { result: 'allow', tenant_id: 'acme', principal: 'alice', action: 'read', route: 'pipeline-read', resource_id: 'acme-web',
      policy_revision: 'full-1', budget: { cost: 1 } }, 'the allow, with the policy revision and its budget figures');
    t.match(find(decisionIds.rebac!), { reason: 'rebac_denied', stage: 'rebac' });
    t.match(find(decisionIds.policy!), { reason: 'policy_denied', stage: 'policy' });
    t.match(find(decisionIds.budget!), { reason: 'budget_exhausted', stage: 'budget' });
    t.ok(broker.records.every((r) => r.topic === 'authz-audit'), 'on the configured topic');
  });
});
