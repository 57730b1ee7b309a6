#!/usr/bin/env node
// What kafkajs' produce encoding costs per audit record, in isolation: the
// Produce v3 request encoder kafkajs' producer runs (records, CloudEvents
// headers, the record batch, the sink's gzip codec) on a batch of the
// shipper's messages, with no network, no broker and no shipper around it.
// The variants take the record contract apart to show where the CPU goes:
// without headers, with every value a Buffer, without compression.
//
//   npm run build && node bench/audit-kafka-encode.js [--batch 80] [--dist DIR] [variant ...]
//
// Prints CPU µs (this process, user+sys) per record for each variant. Reads
// kafkajs' internal request encoder (kafkajs/src/…): a measuring tool only,
// nothing in src/ does.
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(REPO, 'package.json'));
const { values, positionals } = parseArgs({ allowPositionals: true, options: {
  batch: { type: 'string', default: '80' }, dist: { type: 'string', default: path.join(REPO, 'dist') },
} });
const dist = (p) => import(path.join(path.resolve(values.dist), p));
const { eventJson } = await dist('audit/event.js');
const { KafkaSink } = await dist('audit/sinks/kafka-sink.js');
const { parseAuditConfig, remoteSinksOf } = await dist('audit/config.js');
const { createLogger } = await dist('observability/logger.js');
const { readChainedLine } = await dist('audit/shipping/event-head.js');
const Produce = require('kafkajs/src/protocol/requests/produce/v3/request.js');
const Long = require('kafkajs/src/utils/long');

// Varied like real traffic (ids, tenants, resources, budget figures), so gzip sees realistic text.
const decision = (i) => ({
  decisionId: randomUUID(), allowed: true, status: 200, reason: 'allowed', stage: 'engine',
  mode: 'deny', wouldDeny: undefined, upstreamHeaders: {}, responseHeaders: {},
  principal: { id: `user-${(i * 7919) % 1000}`, kind: 'user', tenant: `t-${i % 7}`, roles: ['viewer'], claims: {}, source: 'jwt' },
  action: 'read', resource: { type: 'project', id: `p-${(i * 31) % 500}`, tenant: `t-${i % 7}` }, route: 'read-project', durationSeconds: 0.000123 + i / 1e7,
  annotations: { policy_revision: 'r-2026-12-01', fga_model_id: '01M8SNYG6BAASXXTY04EM8FRHS',
    budget: { tenant: `t-${i % 7}`, class: 'realtime', cost: 0.001, remaining: { rps: 999 - i, rpm: 59999 - 3 * i, daily: 999999.999 - i, monthly: 7999999.999 - i }, via: 'memory' } },
});
const request = (i) => ({ requestId: String(8711913421556461123n + BigInt(i * 104729)), method: 'GET', path: `/api/v1/tenants/t-${i % 7}/projects/p-${(i * 31) % 500}`,
  headers: {}, source: { address: `10.0.${i % 255}.${(i * 13) % 255}` }, transport: 'grpc' });

const B = Number(values.batch);
const lines = Array.from({ length: B }, (_, i) => eventJson(decision(i), request(i)).slice(0, -1) + `,"seq":${i + 1},"prev_hash":"${'a'.repeat(64)}"}`);
const config = parseAuditConfig({ sinks: [{ jsonl: { dir: '/nonexistent' } }, { kafka: { brokers: ['127.0.0.1:9'], topic: 'authz-audit', compression: 'gzip' } }] });
const sink = new KafkaSink(remoteSinksOf(config).kafka, createLogger('silent'));
const heads = lines.map((l) => readChainedLine(l));
const messages = () => heads.map((h) => sink.message(h.head, h.json));
const asBuffers = (m) => ({ key: Buffer.from(m.key), value: Buffer.from(m.value), timestamp: m.timestamp,
  headers: Object.fromEntries(Object.entries(m.headers).map(([k, v]) => [k, Buffer.isBuffer(v) ? v : Buffer.from(v)])) });
const prebuiltBuffers = messages().map(asBuffers);
const valueBytes = heads.map((h) => Buffer.from(h.json));

async function encode(msgs, compression) {
  const req = Produce({ acks: -1, timeout: 5000, producerId: Long.fromInt(1), producerEpoch: 0, compression,
    topicData: [{ topic: 'authz-audit', partitions: [{ partition: 0, firstSequence: 0, messages: msgs }] }] });
  return (await req.encode()).buffer.length;
}

const GZIP = 1;
const NONE = 0;
const variants = {
  read_line: async () => { for (const l of lines) readChainedLine(l); return 0; },
  sink_message: async () => { messages(); return 0; },
  encode_gzip: async () => encode(messages(), GZIP),
  encode_gzip_buffers: async () => encode(prebuiltBuffers, GZIP),
  // The value as the trail's own bytes (what the reader hands over), everything else as the sink builds it.
  encode_gzip_value_bytes: async () => encode(messages().map((m, i) => ({ ...m, value: valueBytes[i] })), GZIP),
  encode_none: async () => encode(messages(), NONE),
  encode_none_no_headers: async () => encode(messages().map(({ key, value, timestamp }) => ({ key, value, timestamp })), NONE),
};
for (const [name, fn] of Object.entries(variants)) {
  if (positionals.length > 0 && !positionals.includes(name)) continue;
  for (let i = 0; i < 200; i++) await fn();
  const N = 1500;
  let size = 0;
  const c0 = process.cpuUsage();
  for (let i = 0; i < N; i++) size = await fn();
  const c = process.cpuUsage(c0);
  console.log(JSON.stringify({ variant: name, batch: B, cpu_us_per_record: Number(((c.user + c.system) / (N * B)).toFixed(2)), ...(size ? { request_bytes: size } : {}) }));
}
