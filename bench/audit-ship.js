#!/usr/bin/env node
// What shipping the trail to Kafka costs per event, alone: the shipper's
// work (read the trail, check each line, build the records, kafkajs' encoding
// and gzip, the produce round trips, the checkpoint) with nothing else in the
// process — no decisions, no load generator, no HTTP/2 — so the figure holds
// still on a shared machine where the ladder's does not.
//
//   npm run build && node bench/audit-ship.js [--events 40000] [--rounds 3] [--batch 80] [--dist DIR] [--cpu-prof]
//
// Per round, a fresh child process writes `events` decisions' events into a
// new trail (untimed), then runs a Shipper from DIR (default dist/) with the
// Kafka sink of bench/config/full.yaml (gzip) to the test broker (its own
// process) until every event is acknowledged; it prints the child's CPU µs
// per shipped event over that phase (all its threads: zlib, fs, GC helpers).
// --batch: events per Kafka batch (audit.batch.max_events; default 80, about what
// a caught-up shipper finds every max_wait_ms at 2,000-4,000 decisions/s).
// --dist: another build's dist/, to compare two builds in one sitting.
// --cpu-prof: the children's profiles of the shipping phase to bench/out/profiles/audit-ship/ (node bench/profile-summary.js).
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startKafkaBroker } from './lib/kafka-broker.js';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(BENCH_DIR, '..');
const OUT = path.join(BENCH_DIR, 'out', 'audit-ship');

const decision = (i) => ({
  decisionId: `3f1c2a9e-4b1d-4c7e-9a51-${String(i).padStart(12, '0')}`, allowed: true, status: 200, reason: 'allowed', stage: 'engine',
  mode: 'deny', wouldDeny: undefined, upstreamHeaders: {}, responseHeaders: {},
  principal: { id: 'alice', kind: 'user', tenant: 'acme', roles: ['viewer'], claims: {}, source: 'jwt' },
  action: 'read', resource: { type: 'project', id: 'p-42', tenant: 'acme' }, route: 'read-project', durationSeconds: 0.000123,
  annotations: { policy_revision: 'bench-standin', fga_model_id: '01M8SNYG6BAASXXTY04EM8FRHS',
    budget: { tenant: 'acme', class: 'realtime', cost: 0.001, remaining: { rps: 999999, rpm: 59999999, daily: 999999.999, monthly: 7999999.999 }, via: 'memory' } },
});
const request = { requestId: '8711913421556461123', method: 'GET', path: '/api/v1/tenants/acme/projects/p-42', headers: {}, source: { address: '10.0.3.7' }, transport: 'grpc' };

async function child({ distDir, dir, events, broker, batch, profDir }) {
  const dist = (p) => import(path.join(distDir, p));
  const { eventJson } = await dist('audit/event.js');
  const { TrailWriter } = await dist('audit/trail/trail-writer.js');
  const { Shipper } = await dist('audit/shipping/shipper.js');
  const { createRemoteSinks } = await dist('audit/shipping/remote-sinks.js');
  const { parseAuditConfig, remoteSinksOf } = await dist('audit/config.js');
  const { createLogger } = await dist('observability/logger.js');
  const log = createLogger('silent');
  const w = await TrailWriter.open({ dir, fsync: 'never', fsyncIntervalMs: 1000, segmentBytes: 2 ** 30, maxBytes: 2 ** 40, log });
  for (let i = 0; i < events; i++) if (!w.append(eventJson(decision(i), request))) throw new Error('append failed');
  await w.close();
  const config = parseAuditConfig({ sinks: [{ jsonl: { dir } }, { kafka: { brokers: [broker], topic: 'authz-audit', compression: 'gzip' } }] });
  const [sink] = createRemoteSinks(remoteSinksOf(config), { log, dir });
  const shipper = new Shipper(sink, { dir, batchMax: batch, pollMs: config.batch.max_wait_ms, backoffMinMs: 200, backoffMaxMs: 5000 }, log);
  const profiler = profDir === undefined ? undefined : await startProfiler();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await shipper.drain(Date.now() + 120_000);
  const c = process.cpuUsage(c0);
  const wallMs = performance.now() - t0;
  if (profiler !== undefined) await profiler.stopInto(profDir);
  const p = shipper.takeProgress();
  await sink.close();
  return { delivered: p.delivered, cpu_us_per_event: (c.user + c.system) / p.delivered, sys_us_per_event: c.system / p.delivered, wall_ms: wallMs };
}

// The profile covers the shipping phase only (not the untimed writing of the trail before it).
async function startProfiler() {
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return {
    async stopInto(dir) {
      const { profile } = await session.post('Profiler.stop');
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, `ship-${process.pid}-${Date.now()}.cpuprofile`), JSON.stringify(profile));
      session.disconnect();
    },
  };
}

function runChild(args) {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', JSON.stringify(args)], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    c.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop())) : reject(new Error(`child exited ${code}`))));
  });
}

const { values } = parseArgs({ options: {
  child: { type: 'string' }, events: { type: 'string', default: '40000' }, rounds: { type: 'string', default: '3' },
  batch: { type: 'string', default: '80' }, 'cpu-prof': { type: 'boolean', default: false },
  dist: { type: 'string', default: path.join(REPO, 'dist') },
} });
if (values.child) {
  process.stdout.write(`${JSON.stringify(await child(JSON.parse(values.child)))}\n`);
  process.exit(0);
}
const broker = await startKafkaBroker();
try {
  const results = [];
  const sys = [];
  for (let r = 0; r < Number(values.rounds); r++) {
    const dir = path.join(OUT, `round-${r}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const res = await runChild({ distDir: path.resolve(values.dist), dir, events: Number(values.events), broker: broker.address,
      batch: Number(values.batch), profDir: values['cpu-prof'] ? path.join(BENCH_DIR, 'out', 'profiles', 'audit-ship') : undefined });
    if (res.delivered !== Number(values.events)) throw new Error(`delivered ${res.delivered} of ${values.events}`);
    results.push(res.cpu_us_per_event);
    sys.push(res.sys_us_per_event);
    rmSync(dir, { recursive: true, force: true });
  }
  const sorted = [...results].sort((a, b) => a - b);
  console.log(JSON.stringify({ dist: path.relative(REPO, path.resolve(values.dist)) || '.', events: Number(values.events), batch: Number(values.batch),
    cpu_us_per_event_median: Number(sorted[Math.floor(sorted.length / 2)].toFixed(2)), rounds: results.map((x) => Number(x.toFixed(2))),
    sys_us_per_event: sys.map((x) => Number(x.toFixed(2))),
    loadavg_1m: Number(os.loadavg()[0].toFixed(2)) }));
} finally {
  await broker.stop();
}
