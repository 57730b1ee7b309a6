// What the shipper reads from a real trail (TrailWriter appends, TrailReader
// reads): the events the writer wrote, with the fields a sink routes by read
// without parsing the event; chained lines that are not JSON, not an event or
// not chained are quarantined with the reason and never handed to a sink;
// lines of another shape (whitespace, escapes, a repeated key, a long line)
// are read as JSON reads them; and segments a rotation starts after the reader has
// listed the directory are still read, in order, without a gap.
import { appendFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { eventJson } from '../../src/audit/event.js';
import { chainLine, hashLine } from '../../src/audit/hash-chain.js';
import type { TrailPosition } from '../../src/audit/shipping/checkpoint.js';
import type { TrailRecord } from '../../src/audit/shipping/remote-sink.js';
import { TrailReader, type CorruptRecord } from '../../src/audit/shipping/trail-reader.js';
import { TrailWriter } from '../../src/audit/trail/trail-writer.js';
import { createLogger } from '../../src/observability/logger.js';
import { decision, request, until } from './fixtures/helpers.js';

async function writer(dir: string, segmentBytes = 1 << 30): Promise<TrailWriter> {
  return TrailWriter.open({ dir, fsync: 'never', fsyncIntervalMs: 1000, segmentBytes, maxBytes: 2 ** 40, log: createLogger('silent') });
}

function readAll(reader: TrailReader, from: TrailPosition): { records: TrailRecord[]; next: TrailPosition } {
  const records: TrailRecord[] = [];
  let pos = from;
  for (;;) {
    const batch = reader.read(pos, 7, true);
    records.push(...batch.records);
    if (batch.next === pos || (batch.records.length === 0 && batch.next.offset === pos.offset && batch.next.file === pos.file)) return { records, next: batch.next };
    pos = batch.next;
  }
}

function start(dir: string): TrailPosition {
  const first = readdirSync(dir).filter((f) => /^audit-\d{4}-\d{2}-\d{2}-\d{12}\.jsonl$/.test(f)).sort()[0] as string;
  return { file: first, offset: 0, seq: 0 };
}

t.test('events the writer wrote are read with their routing fields; the event object is there on demand', async (t) => {
  const dir = t.testdir({});
  const w = await writer(dir);
  const awkward = 'é "quoted" \\ back \n line 😀';
  w.append(eventJson(decision({ id: 'plain' }), request()));
  w.append(eventJson({ ...decision({ id: `odd ${awkward}`, tenant: `t ${awkward}` }), resource: { type: `ty ${awkward}`, id: `id ${awkward}`, tenant: `t ${awkward}` } },
    request({ path: `/x/${awkward}` })));
  w.append(eventJson({ ...decision({ id: 'no-resource' }), resource: undefined, principal: undefined }, request()));
  await w.close();
  const corrupt: CorruptRecord[] = [];
  const { records } = readAll(new TrailReader(dir, (c) => corrupt.push(c)), start(dir));
  t.same(corrupt, []);
  t.same(records.map((r) => r.seq), [1, 2, 3]);
  t.same(records.map((r) => r.head), [
    { decision_id: 'plain', timestamp: records[0]?.head.timestamp, tenant_id: 'acme', resource_type: 'project', resource_id: 'p1' },
    { decision_id: `odd ${awkward}`, timestamp: records[1]?.head.timestamp, tenant_id: `t ${awkward}`, resource_type: `ty ${awkward}`, resource_id: `id ${awkward}` },
    { decision_id: 'no-resource', timestamp: records[2]?.head.timestamp, tenant_id: null, resource_type: null, resource_id: null },
  ]);
  for (const r of records) {
    t.equal(r.json, r.line.slice(0, r.line.lastIndexOf(',"seq":')) + '}', 'the JSON is the line without its chain fields');
    t.same(r.event, JSON.parse(r.json), 'the event object is the parsed JSON');
    t.equal(r.head.timestamp, r.event.timestamp);
  }
  t.equal((records[1]?.event as { path: string }).path, `/x/${awkward}`);
});

t.test('chained lines that are not JSON or not an event are quarantined with the reason, never read as records', async (t) => {
  const dir = t.testdir({});
  const w = await writer(dir);
  w.append(eventJson(decision({ id: 'before' }), request()));
  await w.close();
  const file = join(dir, start(dir).file);
  const good = eventJson(decision({ id: 'ok' }), request());
  const chained = (json: string, seq: number): string => chainLine(json, seq, hashLine('x'));
  const bad: Array<[string, string]> = [
    [chained(good.replace('"result":"allow"', '"result":"al\u0001low"'), 2), 'not valid JSON'], // a control byte inside a string
    [chained(good.replace('"status":200', '"status":2 00'), 3), 'not valid JSON'],
    [chained(good.replace('"route":"read-project",', '"route":"read-project",,'), 4), 'not valid JSON'],
    [chained(good.slice(0, 200) + '}', 5), 'not valid JSON'], // cut short
    [chained(good.replace(/"decision_id":"ok"/, '"decision_id":7'), 6), 'not an audit event (no decision_id/timestamp)'],
    [chained('{"hello":"world"}', 7), 'not an audit event (no decision_id/timestamp)'],
    [chained('{"decision_id":"no-time"}', 8), 'not an audit event (no decision_id/timestamp)'],
    ['\u0000\u0000garbage{not json', 'not a chained audit line'],
    [good, 'not a chained audit line'],
  ];
  appendFileSync(file, bad.map(([line]) => line + '\n').join(''));
  appendFileSync(file, chained(good.replace('"decision_id":"ok"', '"decision_id":"after"'), 9) + '\n');
  const corrupt: CorruptRecord[] = [];
  const { records } = readAll(new TrailReader(dir, (c) => corrupt.push(c)), start(dir));
  t.same(records.map((r) => r.head.decision_id), ['before', 'after'], 'only the good lines are records');
  t.same(corrupt.map((c) => c.why), bad.map(([, why]) => why));
});

t.test('lines of another shape are read as JSON reads them', async (t) => {
  const dir = t.testdir({});
  const w = await writer(dir);
  w.append(eventJson(decision({ id: 'first' }), request()));
  await w.close();
  const file = join(dir, start(dir).file);
  const good = eventJson(decision({ id: 'x' }), request());
  const lines = [
    // whitespace, as a hand-made or other tool's line would have
    JSON.stringify(JSON.parse(good), null, 1).replace(/\n/g, ' '),
    // a repeated routing key: JSON keeps the last one
    good.replace('"route":', '"tenant_id":"other","route":'),
    // escaped characters in the routing fields
    good.replace('"decision_id":"x"', '"decision_id":"\\u0041\\"b"'),
    // fields in another order, and nesting deeper than a v1 event's
    '{"decision_id":"reordered","timestamp":"2026-01-01T00:00:00.000Z","deep":{"a":{"b":{"c":[1,{"d":2}]}}}}',
    // longer than the reader first asks for (no event the writer makes is; an older or hand-made line may be)
    good.replace('"decision_id":"x"', '"decision_id":"long"').replace('"path":"', `"path":"${'p'.repeat(100_000)}`),
  ];
  appendFileSync(file, lines.map((l, i) => chainLine(l, i + 2, hashLine('x')) + '\n').join(''));
  const corrupt: CorruptRecord[] = [];
  const { records } = readAll(new TrailReader(dir, (c) => corrupt.push(c)), start(dir));
  t.same(corrupt, []);
  t.same(records.map((r) => [r.head.decision_id, r.head.tenant_id]), [
    ['first', 'acme'], ['x', 'acme'], ['x', 'other'], ['A"b', 'acme'], ['reordered', null], ['long', 'acme'],
  ]);
  for (const r of records) t.same(r.event, JSON.parse(r.json));
});

t.test('segments started after the reader listed the directory are read in order, without a gap', async (t) => {
  const dir = t.testdir({});
  const w = await writer(dir, 4096); // a few events per segment
  const reader = new TrailReader(dir, () => t.fail('nothing is corrupt'));
  let pos = start(dir);
  const seen: number[] = [];
  const total = 60;
  for (let i = 0; i < total; i++) {
    w.append(eventJson(decision({ id: `r-${i}` }), request()));
    if (i % 5 === 0) {
      // The reader reaches the end of what it knows, between rotations.
      const batch = reader.read(pos, 3);
      seen.push(...batch.records.map((r) => r.seq));
      pos = batch.next;
    }
  }
  await until(() => {
    const batch = reader.read(pos, 50);
    seen.push(...batch.records.map((r) => r.seq));
    pos = batch.next;
    return seen.length >= total;
  }, 'every event read');
  reader.close();
  await w.close();
  t.ok(w.segments.length > 5, `${w.segments.length} segments`);
  t.same(seen, Array.from({ length: total }, (_, i) => i + 1));
});
