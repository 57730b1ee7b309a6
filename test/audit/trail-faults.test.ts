// The write-ahead trail under bad input and faults (issue 11): oversized
// fields, a torn or edited tail, a corrupt head, a full disk before and after
// the append, corrupt records and checkpoints, a dead shipper thread, two
// writers on one directory, retention at max_bytes. Each case is what a
// probe of the previous design got wrong.
import { appendFileSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import t, { type Test } from 'tap';
import { auditVerifyCommand, createAuditCapability, queryAuditDir, type AuditCapability } from '../../src/audit/index.js';
import { TrailWriter } from '../../src/audit/trail/trail-writer.js';
import { createLogger } from '../../src/observability/logger.js';
import { TestKafkaBroker } from '../support/kafka-broker/index.js';
import { decision, deps, deliveredIds, metricValue, request, until } from './fixtures/helpers.js';

function segments(dir: string): string[] {
  return readdirSync(dir).filter((f) => /^audit-.*\.jsonl$/.test(f) && !f.includes('breaks') && !f.includes('quarantine')).sort();
}

async function verify(dir: string): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io = {
    stdout: new Writable({ write(c: Buffer, _e, cb) { out += c.toString(); cb(); } }),
    stderr: new Writable({ write(c: Buffer, _e, cb) { err += c.toString(); cb(); } }),
  };
  const code = await auditVerifyCommand([dir], io);
  return { code, out, err };
}

async function idsInTrail(dir: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const m of queryAuditDir(dir, {})) ids.push(m.event.decision_id as string);
  return ids;
}

/** A trail-only capability in `root`/audit with `n` decisions recorded, closed. */
async function trailWith(root: string, n: number, prefix = 'e'): Promise<string> {
  const cap = createAuditCapability({ sinks: [{ jsonl: { dir: 'audit' } }] }, deps(root));
  await cap.ready();
  for (let i = 0; i < n; i++) cap.onDecision?.(decision({ id: `${prefix}-${i}` }), request());
  await cap.close();
  return join(root, 'audit');
}

function lastSegment(dir: string): string {
  const all = segments(dir).filter((f) => readFileSync(join(dir, f)).length > 0);
  return join(dir, all[all.length - 1] as string);
}

t.test('an event with megabytes in its outside fields is bounded, recorded and shipped; nothing crashes', async (t) => {
  const broker = await new TestKafkaBroker().start();
  t.teardown(() => broker.stop());
  const root = t.testdir({});
  const d = deps(root);
  const cap = createAuditCapability({ sinks: [{ jsonl: { dir: 'audit' } }, { kafka: { brokers: [broker.address] } }] }, d);
  await cap.ready();
  const huge = 'x'.repeat(1536 * 1024);
  const base = decision({ id: 'big', reason: `rbac_${huge}`, annotations: { policy_revision: huge, fga_model_id: huge,
    budget: Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, huge])) } });
  const big = { ...base, principal: { ...(base.principal as NonNullable<typeof base.principal>), id: huge } };
  t.equal(cap.onDecision?.(big, request({ path: `/${huge}`, requestId: huge })), true, 'recorded');
  cap.onDecision?.(decision({ id: 'after' }), request());
  await until(() => deliveredIds(broker, 'authz-audit').size === 2, 'both shipped to Kafka');
  await cap.close();
  const record = broker.recordsFor('authz-audit').find((r) => r.headers.ce_id === 'big');
  const value = record?.value ?? '';
  t.ok(value.length < 64 * 1024, `the event is ${value.length} bytes`);
  const ev = JSON.parse(value) as Record<string, string>;
  for (const field of ['policy_revision', 'fga_model_id', 'principal', 'reason', 'path', 'request_id']) {
    t.match(ev[field], /…\[truncated\]$/, `${field} is cut and marked`);
  }
  t.equal((await verify(join(root, 'audit'))).code, 0);
});

t.test('a torn last line is reported as torn (not tampering) and cut off at the next start', async (t) => {
  const root = t.testdir({});
  const dir = await trailWith(root, 10);
  appendFileSync(lastSegment(dir), '{"schema_version":1,"timestamp":"2026-'); // a crash in the middle of an append
  const torn = await verify(dir);
  t.equal(torn.code, 0, torn.out);
  t.match(torn.out, /ok: 10 events.*torn last line/);
  t.match(torn.err, /torn last line .* an append cut by a crash/);

  const d = deps(root);
  const cap = createAuditCapability({ sinks: [{ jsonl: { dir: 'audit' } }] }, d);
  await cap.ready();
  cap.onDecision?.(decision({ id: 'after' }), request());
  t.equal(await metricValue(d, 'authz_audit_torn_tails_recovered_total'), 1, 'counted');
  t.same(cap.readinessChecks?.(), { audit_trail_writable: true, audit_chain_intact: true }, 'a torn tail is not a break');
  await cap.close();
  const after = await verify(dir);
  t.equal(after.code, 0, after.out);
  t.match(after.out, /^ok: 11 events/);
  t.notMatch(after.out, /torn/);
});

t.test('an edited last line, a cut tail or a corrupt head survive a restart as a recorded break', async (t) => {
  const damage: Array<[string, (dir: string) => void]> = [
    ['edited last line', (dir) => {
      const file = lastSegment(dir);
      writeFileSync(file, readFileSync(file, 'utf8').replace('"e-9"', '"e-X"'));
    }],
    ['cut tail', (dir) => {
      const file = lastSegment(dir);
      writeFileSync(file, readFileSync(file, 'utf8').split('\n').slice(0, 7).join('\n') + '\n');
    }],
    ['corrupt head', (dir) => writeFileSync(join(dir, 'audit-head.json'), '{"seq": "garbage"')],
  ];
  for (const [name, harm] of damage) {
    const root = t.testdir({});
    const dir = await trailWith(root, 10);
    harm(dir);
    const before = await verify(dir);
    t.equal(before.code, 1, `${name}: verify fails before the restart: ${before.out}`);

    const d = deps(root);
    const cap = createAuditCapability({ sinks: [{ jsonl: { dir: 'audit' } }] }, d);
    await cap.ready();
    t.equal(cap.onDecision?.(decision({ id: 'after' }), request()), true, `${name}: the sidecar keeps recording`);
    t.equal(cap.isReady(), true, `${name}: and serving`);
    t.same(cap.readinessChecks?.(), { audit_trail_writable: true, audit_chain_intact: false }, `${name}: /readyz shows the break`);
    t.equal(await metricValue(d, 'authz_audit_chain_breaks'), 1, `${name}: metric`);
    await cap.close();

    const after = await verify(dir);
    t.equal(after.code, 1, `${name}: verify still fails after the restart rewrote the head`);
    t.match(after.out, /^TAMPERED .*a chain break was recorded at a restart/, `${name}: ${after.out}`);
  }
});

t.test('disk full between the append and the head write: each decision is written once', async (t) => {
  const root = t.testdir({ audit: {} });
  symlinkSync('/dev/full', join(root, 'audit', 'audit-head.json.tmp')); // every head write fails with ENOSPC
  const d = deps(root);
  const cap = createAuditCapability({ sinks: [{ jsonl: { dir: 'audit', fsync_interval_ms: 5 } }] }, d);
  await cap.ready();
  for (let i = 0; i < 50; i++) {
    t.equal(cap.onDecision?.(decision({ id: `h-${i}` }), request()), true);
    if (i % 10 === 0) await new Promise((r) => setTimeout(r, 20));
  }
  await until(async () => (await metricValue(d, 'authz_audit_trail_errors', { op: 'head' })) > 0, 'a failed head write');
  await cap.close();
  const ids = await idsInTrail(join(root, 'audit'));
  t.equal(ids.length, 50, 'fifty lines');
  t.equal(new Set(ids).size, 50, 'no decision twice');
  t.equal((await verify(join(root, 'audit'))).code, 0);
});

async function fullDiskCapability(t: Test, onFull: 'deny' | 'drop'): Promise<{ cap: AuditCapability; d: ReturnType<typeof deps> }> {
  const root = t.testdir({ audit: {} });
  const day = new Date().toISOString().slice(0, 10);
  // The segment the trail opens first is the disk that is full.
  symlinkSync('/dev/full', join(root, 'audit', `audit-${day}-000000000001.jsonl`));
  const d = deps(root);
  const cap = createAuditCapability({ sinks: [{ jsonl: { dir: 'audit' } }], on_full: onFull }, d);
  await cap.ready();
  t.teardown(() => cap.close());
  return { cap, d };
}

t.test('disk full with on_full=deny: the decision is refused (audit_unavailable), the trail is not ready, nothing crashes', async (t) => {
  const { cap, d } = await fullDiskCapability(t, 'deny');
  t.equal(cap.onDecision?.(decision({ id: 'f-1' }), request()), false, 'not recorded: the authorizer answers audit_unavailable');
  t.equal(cap.isReady(), false, '/readyz: not ready while the trail cannot be written');
  t.same(cap.readinessChecks?.(), { audit_trail_writable: false, audit_chain_intact: true });
  t.equal(await metricValue(d, 'audit_events_dropped_total', { reason: 'trail_error' }), 1);
  t.ok((await metricValue(d, 'authz_audit_trail_errors', { op: 'write' })) >= 1);
});

t.test('disk full with on_full=drop: served and counted', async (t) => {
  const { cap, d } = await fullDiskCapability(t, 'drop');
  t.equal(cap.onDecision?.(decision({ id: 'f-1' }), request()), true);
  t.equal(await metricValue(d, 'audit_events_dropped_total', { reason: 'trail_error' }), 1);
});

t.test('two writers on one trail directory: the second refuses to start', async (t) => {
  const root = t.testdir({});
  const first = createAuditCapability({ sinks: [{ jsonl: { dir: 'audit' } }] }, deps(root));
  await first.ready();
  const second = createAuditCapability({ sinks: [{ jsonl: { dir: 'audit' } }] }, deps(root));
  await t.rejects(second.ready(), /in use|already open/);
  t.equal(second.canAccept(), false, 'the second never accepts');
  await first.close();
  const third = createAuditCapability({ sinks: [{ jsonl: { dir: 'audit' } }] }, deps(root));
  await third.ready();
  await third.close();
});

t.test('a corrupt trail record is quarantined, counted and skipped; shipping goes on', async (t) => {
  const broker = await new TestKafkaBroker().start();
  t.teardown(() => broker.stop());
  const root = t.testdir({});
  const dir = await trailWith(root, 10, 'q');
  const file = lastSegment(dir);
  const lines = readFileSync(file, 'utf8').split('\n');
  lines.splice(4, 0, '\u0000\u0000garbage{not json');
  writeFileSync(file, lines.join('\n'));
  const d = deps(root);
  const cap = createAuditCapability({ sinks: [{ jsonl: { dir: 'audit' } }, { kafka: { brokers: [broker.address] } }] }, d);
  await cap.ready();
  cap.onDecision?.(decision({ id: 'q-after' }), request());
  await until(() => deliveredIds(broker, 'authz-audit').has('q-after'), 'shipping went past the bad record');
  const ids = deliveredIds(broker, 'authz-audit');
  t.same([...Array(10).keys()].filter((i) => !ids.has(`q-${i}`)), [], 'every good record shipped');
  await until(async () => (await metricValue(d, 'authz_audit_quarantined_total', { sink: 'kafka' })) === 1, 'counted');
  await cap.close();
  const quarantined = readFileSync(join(dir, 'audit-quarantine-kafka.jsonl'), 'utf8').trim().split('\n');
  t.equal(quarantined.length, 1);
  t.match(JSON.parse(quarantined[0] as string), { why: 'not a chained audit line' });
});

t.test('a corrupt shipping checkpoint restarts shipping from the oldest segment: duplicates, never gaps', async (t) => {
  const broker = await new TestKafkaBroker().start();
  t.teardown(() => broker.stop());
  const root = t.testdir({});
  const config = { sinks: [{ jsonl: { dir: 'audit' } }, { kafka: { brokers: [broker.address] } }] };
  let cap = createAuditCapability(config, deps(root));
  await cap.ready();
  for (let i = 0; i < 20; i++) cap.onDecision?.(decision({ id: `c-${i}` }), request());
  await until(() => deliveredIds(broker, 'authz-audit').size === 20, 'first run shipped');
  await cap.close();
  const firstRun = broker.recordsFor('authz-audit').length;
  writeFileSync(join(root, 'audit', 'audit-shipped-kafka.json'), '{"file":"audit-1999-01-01-000000000001.jsonl","offset":3,"seq":');
  const d = deps(root);
  cap = createAuditCapability(config, d);
  await cap.ready();
  for (let i = 20; i < 25; i++) cap.onDecision?.(decision({ id: `c-${i}` }), request());
  await until(() => deliveredIds(broker, 'authz-audit').size === 25, 'everything shipped');
  await until(() => broker.recordsFor('authz-audit').length >= firstRun + 25, 'the first run shipped again');
  t.equal(await metricValue(d, 'authz_audit_checkpoint_resets_total', { sink: 'kafka' }), 1);
  await cap.close();
});

t.test('a shipper thread that dies is restarted and counted; nothing is lost', async (t) => {
  const broker = await new TestKafkaBroker().start();
  t.teardown(() => broker.stop());
  const d = deps(t.testdir({}));
  const cap = createAuditCapability({ sinks: [{ jsonl: { dir: 'audit' } }, { kafka: { brokers: [broker.address] } }] }, d);
  await cap.ready();
  for (let i = 0; i < 10; i++) cap.onDecision?.(decision({ id: `w-${i}` }), request());
  await until(() => deliveredIds(broker, 'authz-audit').size === 10, 'shipping');
  await cap.shipper?.thread?.terminate();
  for (let i = 10; i < 20; i++) cap.onDecision?.(decision({ id: `w-${i}` }), request());
  await until(async () => (await metricValue(d, 'authz_audit_shipper_restarts_total')) === 1, 'restart counted');
  await until(() => deliveredIds(broker, 'authz-audit').size === 20, 'the restarted thread ships the rest');
  await cap.close();
});

t.test('max_bytes: the trail deletes only shipped segments; full with nothing shipped refuses, then recovers', async (t) => {
  const broker = new TestKafkaBroker();
  await broker.start();
  t.teardown(() => broker.stop());
  const root = t.testdir({});
  const d = deps(root);
  const cap = createAuditCapability({
    sinks: [{ jsonl: { dir: 'audit', segment_bytes: 64 * 1024, max_bytes: 160 * 1024 } },
      { kafka: { brokers: [broker.address], timeout_ms: 500, retry_backoff_ms: { min: 50, max: 200 } } }],
  }, d);
  await cap.ready();
  await broker.stop(); // nothing can be shipped
  let n = 0;
  while (cap.onDecision?.(decision({ id: `m-${n}` }), request()) === true) n++;
  t.ok(n > 100 && n < 400, `${n} events fit in max_bytes`);
  t.equal(cap.canAccept(), false, 'full: new requests are denied audit_unavailable');
  t.ok((await metricValue(d, 'audit_events_dropped_total', { reason: 'trail_full' })) >= 1);
  await broker.start();
  await until(() => deliveredIds(broker, 'authz-audit').size === n, 'the backlog is shipped');
  await until(() => {
    if (cap.onDecision?.(decision({ id: `m-${n}` }), request()) !== true) return false;
    n++;
    return true;
  }, 'room again once shipped segments can go');
  // 300 more events (twice max_bytes): each fits once the shipper has caught up and retention deleted a shipped segment.
  for (let k = 0; k < 300; k++) {
    const id = `m-${n}`;
    await until(() => cap.onDecision?.(decision({ id }), request()) === true, `room for ${id}`);
    n++;
  }
  await until(() => deliveredIds(broker, 'authz-audit').size === n, 'all shipped');
  await cap.close();
  const dir = join(root, 'audit');
  const bytes = segments(dir).reduce((sum, f) => sum + readFileSync(join(dir, f)).length, 0);
  t.ok(bytes <= 160 * 1024, `the trail holds ${bytes} bytes`);
  const v = await verify(dir);
  t.equal(v.code, 0, v.out);
  t.match(v.err, /deleted by retention/);
});

t.test('audit verify accepts a trail cut by a crash at any byte past the head, and catches a cut before it', async (t) => {
  const root = t.testdir({ live: {} });
  const live = join(root, 'live');
  const opts = { fsync: 'interval' as const, fsyncIntervalMs: 10, segmentBytes: 1 << 20, maxBytes: 1 << 30, log: createLogger('silent') };
  const w = await TrailWriter.open({ dir: live, ...opts });
  t.teardown(() => w.close());
  const json = (i: number) => JSON.stringify({ decision_id: `cut-${i}`, timestamp: new Date().toISOString() });
  for (let i = 0; i < 10; i++) w.append(json(i));
  await until(() => {
    try {
      return (JSON.parse(readFileSync(join(live, 'audit-head.json'), 'utf8')) as { seq: number }).seq === 10;
    } catch {
      return false;
    }
  }, 'the head at seq 10');
  // Three more appends, then the "crash": the files as they are now (no await, so no head write in between).
  for (let i = 10; i < 13; i++) w.append(json(i));
  const name = segments(live)[0] as string;
  const data = readFileSync(join(live, name));
  const head = readFileSync(join(live, 'audit-head.json'));
  const ends: number[] = [];
  for (let i = data.indexOf(0x0a); i >= 0; i = data.indexOf(0x0a, i + 1)) ends.push(i + 1);
  const headEnd = ends[9] as number;

  let copies = 0;
  const cutAt = (at: number): string => {
    const dir = join(root, `cut-${copies++}`);
    mkdirSync(dir);
    writeFileSync(join(dir, name), data.subarray(0, at));
    writeFileSync(join(dir, 'audit-head.json'), head);
    return dir;
  };
  const cuts = new Set<number>([headEnd, data.length, ...ends.slice(10)]);
  for (let at = headEnd + 1; at < data.length; at += 13) cuts.add(at);
  let torn = 0;
  for (const at of cuts) {
    const r = await verify(cutAt(at));
    if (r.code !== 0) t.fail(`cut at byte ${at} (after the head) should verify: ${r.out}`);
    if (/torn last line/.test(r.out)) torn++;
  }
  t.ok(torn > 0 && cuts.size > 20, `${cuts.size} cuts past the head verify (${torn} reported as torn)`);
  for (const at of [headEnd - 1, ends[8] as number, Math.floor((ends[3] as number) + 5)]) {
    const r = await verify(cutAt(at));
    t.equal(r.code, 1, `a cut at byte ${at}, before the head's line ends, is truncation: ${r.out.trim()}`);
  }
  // A restart on a crash-cut trail cuts the torn line off and continues: verify ok, no break recorded.
  const dir = cutAt(headEnd + 100);
  const again = await TrailWriter.open({ dir, ...opts });
  t.equal(again.breaks.length, 0, 'no break');
  t.ok(again.torn !== undefined, 'a torn line was cut off');
  t.ok(again.append(json(99)));
  await again.close();
  const r = await verify(dir);
  t.equal(r.code, 0, r.out);
  t.match(r.out, /^ok: 11 events/);
});

t.test('every fsync policy records every decision and verifies', async (t) => {
  for (const fsync of ['always', 'interval', 'never'] as const) {
    const root = t.testdir({});
    const cap = createAuditCapability({ sinks: [{ jsonl: { dir: 'audit', fsync, fsync_interval_ms: 5 } }] }, deps(root));
    await cap.ready();
    let recorded = 0;
    for (let i = 0; i < 30; i++) if (cap.onDecision?.(decision({ id: `${fsync}-${i}` }), request()) === true) recorded++;
    t.equal(recorded, 30, `${fsync}: every append succeeded`);
    await cap.close();
    t.same(await idsInTrail(join(root, 'audit')), [...Array(30).keys()].map((i) => `${fsync}-${i}`), `${fsync}: all, in order`);
    t.equal((await verify(join(root, 'audit'))).code, 0, `${fsync}: verifies`);
  }
});
