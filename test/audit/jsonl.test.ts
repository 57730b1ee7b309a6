// The write-ahead trail's hash chain, `audit verify` catching each kind of
// tampering (naming the first bad file:line), and `audit query`.
import { cpSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import t from 'tap';
import { auditQueryCommand, auditVerifyCommand, createAuditCapability } from '../../src/audit/index.js';
import { TrailWriter } from '../../src/audit/trail/trail-writer.js';
import { createLogger } from '../../src/observability/logger.js';
import { decision, deps, request } from './fixtures/helpers.js';

function capture() {
  let out = '';
  let err = '';
  const io = {
    stdout: new Writable({ write(c: Buffer, _e, cb) { out += c.toString(); cb(); } }),
    stderr: new Writable({ write(c: Buffer, _e, cb) { err += c.toString(); cb(); } }),
  };
  return { io, out: () => out, err: () => err };
}

async function verify(dir: string, ...extra: string[]) {
  const c = capture();
  const code = await auditVerifyCommand([dir, ...extra], c.io);
  return { code, out: c.out(), err: c.err() };
}

const TENANTS = ['acme', 'globex'];

/** 40 events, over one or more process lifetimes (the chain must continue across restarts). */
async function writeAuditDir(dir: string, runs: readonly number[] = [40]): Promise<string> {
  const results = [
    { allowed: true },
    { allowed: false, reason: 'rbac_denied', stage: 'rbac' },
    { allowed: false, status: 503 as const, reason: 'rebac_unavailable', stage: 'rebac' },
  ];
  let n = 0;
  for (const count of runs) {
    const cap = createAuditCapability({ sinks: [{ jsonl: { dir: 'audit', fsync_interval_ms: 1 } }] }, deps(dir));
    await cap.ready();
    for (let i = 0; i < count; i++, n++) {
      cap.onDecision?.(decision({ id: `j-${n}`, tenant: TENANTS[n % 2], action: n % 4 === 0 ? 'deploy' : 'read',
        ...results[n % 3] }), request());
      if (i % 5 === 0) await new Promise((r) => setTimeout(r, 2));
    }
    await cap.close();
  }
  return join(dir, 'audit');
}

function segments(dir: string): string[] {
  return readdirSync(dir).filter((f) => /^audit-\d{4}-\d{2}-\d{2}-\d{12}\.jsonl$/.test(f)).sort();
}

function onlyFile(dir: string): string {
  const files = segments(dir);
  if (files.length !== 1) throw new Error(`expected one audit file, found ${files.join(',')}`);
  return files[0] as string;
}

function editLines(dir: string, file: string, edit: (lines: string[]) => string[]): void {
  const path = join(dir, file);
  const lines = readFileSync(path, 'utf8').split('\n').slice(0, -1);
  writeFileSync(path, edit(lines).join('\n') + '\n');
}

t.test('an intact chain verifies, across a restart', async (t) => {
  const dir = await writeAuditDir(t.testdir({}), [20, 20]);
  const r = await verify(dir);
  t.equal(r.code, 0, r.out + r.err);
  t.match(r.out, /^ok: 40 events in 2 file\(s\); head seq 40 [0-9a-f]{64}/);
  t.same(segments(dir).map((f) => f.slice(-18)), ['000000000001.jsonl', '000000000021.jsonl'], 'a restart starts a segment at the next seq');
  const lines = segments(dir).flatMap((f) => readFileSync(join(dir, f), 'utf8').trim().split('\n')).map((l) => JSON.parse(l) as
    { seq: number; prev_hash: string; decision_id: string });
  t.same(lines.map((l) => l.seq), [...Array(40).keys()].map((i) => i + 1), 'seq continues across the restart');
  t.equal(lines[0]?.prev_hash, '0'.repeat(64), 'the chain starts at the genesis hash');
  t.equal(lines[20]?.decision_id, 'j-20');
});

t.test('verify names the first bad line for each kind of tampering', async (t) => {
  const root = t.testdir({});
  const pristine = await writeAuditDir(root);
  const file = onlyFile(pristine);
  let copies = 0;
  const cases: Array<[string, (lines: string[]) => string[], number, RegExp]> = [
    ['edited line', (l) => l.map((x, i) => (i === 9 ? x.replace('"result":"', '"result":"x') : x)), 10, /edited/],
    ['edited line (valid JSON, same length)', (l) => l.map((x, i) => (i === 14 ? x.replace('globex', 'glob3x').replace('acme', 'acm3') : x)), 15, /edited/],
    ['edited last line', (l) => l.map((x, i) => (i === 39 ? x.replace('"j-39"', '"j-99"') : x)), 40, /audit-head\.json.*edited/],
    ['broken JSON', (l) => l.map((x, i) => (i === 4 ? x.slice(0, -2) : x)), 5, /not valid JSON/],
    ['removed line', (l) => l.filter((_, i) => i !== 9), 10, /removed/],
    ['inserted line', (l) => [...l.slice(0, 9), l[4] as string, ...l.slice(9)], 10, /inserted/],
    // A forged copy of line 10 (same seq and prev_hash) is a perfect fork: the duplicate after it is what breaks.
    ['forged inserted line', (l) => [...l.slice(0, 9), (l[9] as string).replace('"j-9"', '"j-x"'), ...l.slice(9)], 11, /inserted/],
    ['reordered lines', (l) => [...l.slice(0, 9), l[10] as string, l[9] as string, ...l.slice(11)], 10, /reordered|removed/],
    ['cut tail', (l) => l.slice(0, 37), 38, /tail was removed/],
  ];
  for (const [name, edit, line, why] of cases) {
    const dir = join(root, `copy-${copies++}`);
    cpSync(pristine, dir, { recursive: true });
    editLines(dir, file, edit);
    const r = await verify(dir);
    t.equal(r.code, 1, `${name}: exit 1`);
    t.match(r.out, new RegExp(`^TAMPERED ${file.replace('.', '\\.')}:${line}: `), `${name}: names ${file}:${line}`);
    t.match(r.out, why, `${name}: says why`);
  }
});

t.test('a cut tail without the head file is caught with --head; a partial start needs --partial', async (t) => {
  const dir = await writeAuditDir(t.testdir({}));
  const ok = await verify(dir);
  const headHash = /head seq 40 ([0-9a-f]{64})/.exec(ok.out)?.[1] as string;
  rmSync(join(dir, 'audit-head.json'));
  editLines(dir, onlyFile(dir), (l) => l.slice(0, 35));
  const noHead = await verify(dir);
  t.equal(noHead.code, 0, 'without a head the cut is invisible');
  t.match(noHead.err, /cannot be detected/, 'and verify says so');
  const anchored = await verify(dir, '--head', headHash);
  t.equal(anchored.code, 1);
  t.match(anchored.out, /:36: the anchor hash .* is not in the chain/);

  editLines(dir, onlyFile(dir), (l) => l.slice(5));
  t.equal((await verify(dir)).code, 1, 'older lines removed: the first line is not the genesis');
  t.equal((await verify(dir, '--partial')).code, 0, '--partial accepts a retention cut at the start');
});

t.test('the chain continues across day segments and restarts; a removed segment is caught', async (t) => {
  const dir = t.testdir({});
  let now = Date.parse('2024-03-01T23:59:59Z');
  const opts = { dir, fsync: 'never' as const, fsyncIntervalMs: 1000, segmentBytes: 1 << 20, maxBytes: 1 << 30, log: createLogger('silent'), now: () => now };
  let w = await TrailWriter.open(opts);
  t.ok(w.append('{"decision_id":"a"}') && w.append('{"decision_id":"b"}'));
  now = Date.parse('2024-03-02T00:00:01Z');
  t.ok(w.append('{"decision_id":"c"}'));
  await w.close();
  w = await TrailWriter.open(opts);
  t.ok(w.append('{"decision_id":"d"}'));
  await w.close();
  t.same(segments(dir), ['audit-2024-03-01-000000000001.jsonl', 'audit-2024-03-02-000000000003.jsonl', 'audit-2024-03-02-000000000004.jsonl']);
  const r = await verify(dir);
  t.equal(r.code, 0, r.out);
  t.match(r.out, /4 events in 3 file/);
  rmSync(join(dir, 'audit-2024-03-01-000000000001.jsonl'));
  const gone = await verify(dir);
  t.equal(gone.code, 1);
  t.match(gone.out, /^TAMPERED audit-2024-03-02-000000000003\.jsonl:1: expected seq 1, found 3/);
});

t.test('verify usage errors exit 2', async (t) => {
  t.equal((await verify('/nonexistent/dir')).code, 2);
  const c = capture();
  t.equal(await auditVerifyCommand([], c.io), 2);
  t.match(c.err(), /usage: authz-sidecar audit verify DIR/);
  t.equal(await auditVerifyCommand([t.testdir({}), '--bogus'], capture().io), 2);
});

t.test('audit query filters by tenant, action, result, time and limit', async (t) => {
  const dir = await writeAuditDir(t.testdir({}));
  const query = async (...args: string[]) => {
    const c = capture();
    const code = await auditQueryCommand([dir, ...args], c.io);
    const events = c.out().trim() === '' ? [] : c.out().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    return { code, events, err: c.err() };
  };
  const all = await query();
  t.equal(all.events.length, 40);
  const acme = await query('--tenant', 'acme');
  t.equal(acme.events.length, 20);
  t.ok(acme.events.every((e) => e.tenant_id === 'acme'));
  const denies = await query('--tenant=globex', '--result', 'deny');
  t.ok(denies.events.length > 0 && denies.events.every((e) => e.tenant_id === 'globex' && e.result === 'deny'));
  const errors = await query('--result', 'error', '--action', 'deploy');
  t.ok(errors.events.length > 0 && errors.events.every((e) => e.result === 'error' && e.action === 'deploy'));
  t.same((await query('--limit', '3')).events.map((e) => e.decision_id), ['j-0', 'j-1', 'j-2']);
  t.equal((await query('--since', '1h')).events.length, 40, 'relative --since');
  t.equal((await query('--since', '2999-01-01')).events.length, 0, 'absolute --since');
  t.equal((await query('--decision-id', 'j-7')).events.length, 1);
  t.equal((await query('--result', 'maybe')).code, 2);
  t.equal((await query('--since', 'yesterday')).code, 2);
  t.equal((await query('--limit', '0')).code, 2);
});
