// Audit events reach Kafka (kafkajs → test broker) as CloudEvents in binary
// mode, keyed by tenant, in order per tenant.
import t from 'tap';
import { createAuditCapability } from '../../src/audit/index.js';
import { TestKafkaBroker } from '../support/kafka-broker/index.js';
import { decision, deps, deliveredIds, metricValue, request, until } from './fixtures/helpers.js';

t.test('each decision becomes one Kafka record with CloudEvents headers, tenant key and the v1 event', async (t) => {
  const broker = await new TestKafkaBroker().start();
  t.teardown(() => broker.stop());
  const dir = t.testdir({});
  const d = deps(dir);
  const cap = createAuditCapability({ sinks: [{ jsonl: { dir: 'audit' } }, { kafka: { brokers: [broker.address], source: '/authz-sidecar/test' } }] }, d);
  await cap.ready();
  cap.onDecision?.(decision({ id: 'd-allow', annotations: { policy_revision: 'rev-7', fga_model_id: '01HMODEL',
    budget: { cost: 0.05, daily: { used: 3.2, limit: 50 }, lease: [1, 2] } } }), request());
  cap.onDecision?.(decision({ id: 'd-deny', tenant: 'globex', allowed: false }), request({ requestId: 'req-2', headers: {} }));
  cap.onDecision?.(decision({ id: 'd-dry', mode: 'dryrun', wouldDeny: { status: 403, reason: 'policy_denied', stage: 'policy' },
    stage: 'policy' }), request());
  cap.onDecision?.(decision({ id: 'd-err', allowed: false, status: 503, reason: 'rebac_unavailable', stage: 'rebac' }), request());
  await until(() => deliveredIds(broker, 'authz-audit').size === 4, 'four records');
  await cap.close();

  const byId = new Map(broker.recordsFor('authz-audit').map((r) => [r.headers.ce_id, r]));
  const rec = byId.get('d-allow');
  if (rec === undefined) throw new Error('d-allow missing');
  t.equal(rec.key, 'acme', 'key = tenant id');
  t.match(rec.headers, {
    ce_specversion: '1.0', ce_id: 'd-allow', ce_source: '/authz-sidecar/test', ce_type: 'dev.authz-sidecar.decision.v1',
    'content-type': 'application/json', ce_subject: 'project/p1', ce_partitionkey: 'acme',
  });
  t.ok(!Number.isNaN(Date.parse(rec.headers.ce_time ?? '')), 'ce_time is an RFC 3339 time');
  t.equal(rec.compression, 1, 'gzip by default');
  const ev = JSON.parse(rec.value ?? '{}') as Record<string, unknown>;
  t.match(ev, {
    schema_version: 1, decision_id: 'd-allow', tenant_id: 'acme', principal: 'user-of-acme', action: 'read',
    resource_type: 'project', resource_id: 'p1', result: 'allow', reason: 'allowed', stage: 'engine', enforcement: 'deny',
    policy_revision: 'rev-7', fga_model_id: '01HMODEL', latency_ms: 0.321, client_ip: '10.1.2.3', request_id: 'req-1',
    trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', budget: { cost: 0.05, daily: { used: 3.2, limit: 50 } },
  });
  t.equal(ev.timestamp, rec.headers.ce_time);
  t.notOk('lease' in (ev.budget as object), 'only scalar budget figures');
  t.notMatch(rec.value ?? '', /super-secret-token|secret-in-query|Bearer/, 'no token, no query string');

  const deny = JSON.parse(byId.get('d-deny')?.value ?? '{}') as Record<string, unknown>;
  t.match(deny, { result: 'deny', reason: 'rbac_denied', stage: 'rbac', tenant_id: 'globex', trace_id: null });
  t.equal(byId.get('d-deny')?.key, 'globex');
  const dry = JSON.parse(byId.get('d-dry')?.value ?? '{}') as Record<string, unknown>;
  t.match(dry, { result: 'allow', enforcement: 'dryrun', would_deny_reason: 'policy_denied', would_deny_stage: 'policy',
    would_deny_status: 403 });
  const err = JSON.parse(byId.get('d-err')?.value ?? '{}') as Record<string, unknown>;
  t.match(err, { result: 'error', status: 503, reason: 'rebac_unavailable', stage: 'rebac' });

  t.equal(await metricValue(d, 'audit_events_emitted_total'), 4);
  t.equal(await metricValue(d, 'audit_events_delivered_total', { sink: 'kafka' }), 4);
  t.equal(await metricValue(d, 'audit_events_delivered_total', { sink: 'jsonl' }), 4, 'in the trail too');
});

t.test('events of one tenant arrive in the order they were decided', async (t) => {
  const broker = await new TestKafkaBroker({ partitions: 4 }).start();
  t.teardown(() => broker.stop());
  const cap = createAuditCapability({
    sinks: [{ jsonl: { dir: 'audit' } }, { kafka: { brokers: [broker.address], topic: 'ordered', compression: 'none' } }],
    batch: { max_events: 37, max_wait_ms: 5 },
  }, deps(t.testdir({})));
  await cap.ready();
  const tenants = ['acme', 'globex', 'initech', 'umbrella', 'hooli'];
  const n = 2000;
  for (let i = 0; i < n; i++) {
    cap.onDecision?.(decision({ id: `o-${i}`, tenant: tenants[i % tenants.length] }), request());
    if (i % 250 === 0) await new Promise((r) => setImmediate(r));
  }
  await until(() => deliveredIds(broker, 'ordered').size === n, 'all records');
  await cap.close();
  const records = broker.recordsFor('ordered');
  const partitionsUsed = new Set(records.map((r) => r.partition));
  t.ok(partitionsUsed.size > 1, 'tenants spread over partitions');
  for (const tenant of tenants) {
    const mine = records.filter((r) => r.key === tenant);
    t.equal(new Set(mine.map((r) => r.partition)).size, 1, `${tenant}: one partition`);
    const seq = mine.map((r) => Number((r.headers.ce_id as string).slice(2)));
    t.same(seq, [...seq].sort((a, b) => a - b), `${tenant}: in decision order`);
  }
});

t.test('a retriable broker error is retried without loss or duplication', async (t) => {
  const broker = await new TestKafkaBroker({ partitions: 1 }).start();
  t.teardown(() => broker.stop());
  const cap = createAuditCapability({ sinks: [{ jsonl: { dir: 'audit' } }, { kafka: { brokers: [broker.address] } }] }, deps(t.testdir({})));
  await cap.ready();
  broker.failNextProduces(6 /* NOT_LEADER_FOR_PARTITION */, 1);
  broker.failNextProduces(7 /* REQUEST_TIMED_OUT */, 1);
  for (let i = 0; i < 10; i++) cap.onDecision?.(decision({ id: `r-${i}` }), request());
  await until(() => deliveredIds(broker, 'authz-audit').size === 10, 'ten records');
  await cap.close();
  t.equal(broker.recordsFor('authz-audit').length, 10, 'each exactly once');
});

t.test('the stdout sink writes one JSON line per event', async (t) => {
  const chunks: string[] = [];
  const { Writable } = await import('node:stream');
  const out = new Writable({ write(c: Buffer, _e, cb) { chunks.push(c.toString()); cb(); } });
  const cap = createAuditCapability({ sinks: [{ stdout: {} }] }, deps(t.testdir({})), { stdout: out });
  await cap.ready();
  cap.onDecision?.(decision({ id: 's-1' }), request());
  cap.onDecision?.(decision({ id: 's-2' }), request());
  await cap.close();
  const lines = chunks.join('').trim().split('\n').map((l) => JSON.parse(l) as { decision_id: string });
  t.same(lines.map((l) => l.decision_id), ['s-1', 's-2']);
});

t.test('a bad audit section is refused with a clear message', async (t) => {
  t.throws(() => createAuditCapability({ sinks: [] }, deps('/tmp')), /audit\.sinks/);
  t.throws(() => createAuditCapability({ sinks: [{ kafka: { brokers: [] } }] }, deps('/tmp')), /audit\.sinks/);
  t.throws(() => createAuditCapability({ sinks: [{ stdout: {} }], on_full: 'maybe' }, deps('/tmp')), /on_full/);
  t.throws(() => createAuditCapability({ sinks: [{ kafka: { brokers: ['k:9092'] } }] }, deps('/tmp')), /shipped from the local trail; add a jsonl sink/);
  t.throws(() => createAuditCapability({ sinks: [{ jsonl: { dir: 'a', fsync: 'sometimes' } }] }, deps('/tmp')), /audit\.sinks/);
});
