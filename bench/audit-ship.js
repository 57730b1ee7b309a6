#!/usr/bin/env node
// What shipping the trail to Kafka costs per event, alone: the shipper's
// work (read the trail, check each line, build the records, kafkajs' encoding
// and gzip, the produce round trips, the checkpoint) with nothing else in the
// process — no decisions, no load generator, no HTTP/2 — so the figure holds
// still on a shared machine where the ladder's does not.
//
//   npm run build && node bench/audit-ship.js [--events 40000] [--rounds 3] [--batch 80] [--rate N [--max-wait-ms MS]] [--dist DIR] [--compression gzip|none] [--cpu-prof]
//
// Per round, a fresh child process writes `events` decisions' events into a
// new trail (untimed), then runs a Shipper from DIR (default dist/) with the
// Kafka sink of bench/config/full.yaml (gzip) to the test broker (its own
// process) until every event is acknowledged; it prints the child's CPU µs
// per shipped event over that phase (all its threads: zlib, fs, GC helpers).
// --batch: events per Kafka batch (audit.batch.max_events; default 80, about what
// a caught-up shipper finds every max_wait_ms at 2,000-4,000 decisions/s).
// --rate: instead of a backlog, a trail appended to at N events/s by another
// process while the shipper follows it, caught up, as in the sidecar (batches are
// then what arrives while it waits: audit.batch.* defaults unless --batch / --max-wait-ms).
// --dist: another build's dist/, to compare two builds in one sitting.
// --compression: the Kafka sink's `compression` (gzip, the default, or none).
// --cpu-prof: the children's profiles of the shipping phase to bench/out/profiles/audit-ship/ (node bench/profile-summary.js).
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

async function child({ role = 'ship', distDir, dir, events, broker, batch, maxWaitMs, rate, profDir, compression = 'gzip' }) {
  const dist = (p) => import(path.join(distDir, p));
  const { eventJson } = await dist('audit/event.js');
  const { TrailWriter } = await dist('audit/trail/trail-writer.js');
  const { Shipper } = await dist('audit/shipping/shipper.js');
  const { createRemoteSinks } = await dist('audit/shipping/remote-sinks.js');
  const { parseAuditConfig, remoteSinksOf } = await dist('audit/config.js');
  const { createLogger } = await dist('observability/logger.js');
  const log = createLogger('silent');
  if (role === 'write' || role === 'ship') {
    const w = await TrailWriter.open({ dir, fsync: 'never', fsyncIntervalMs: 1000, segmentBytes: 2 ** 30, maxBytes: 2 ** 40, log });
    if (role === 'ship') {
      for (let i = 0; i < events; i++) if (!w.append(eventJson(decision(i), request))) throw new Error('append failed');
    } else {
      // A steady `rate`: every 5 ms, what is due by then.
      const t0 = performance.now();
      for (let i = 0; i < events;) {
        const due = Math.min(events, Math.floor(((performance.now() - t0) * rate) / 1000));
        for (; i < due; i++) if (!w.append(eventJson(decision(i), request))) throw new Error('append failed');
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    await w.close();
    if (role === 'write') return { written: events };
  }
  const config = parseAuditConfig({ sinks: [{ jsonl: { dir } }, { kafka: { brokers: [broker], topic: 'authz-audit', compression } }],
    ...(maxWaitMs === undefined ? {} : { batch: { max_wait_ms: maxWaitMs } }) });
  const [sink] = await createRemoteSinks(remoteSinksOf(config), { log, dir });
  const shipper = new Shipper(sink, { dir, batchMax: batch ?? config.batch.max_events, pollMs: config.batch.max_wait_ms, backoffMinMs: 200, backoffMaxMs: 5000 }, log);
  const profiler = profDir === undefined ? undefined : await startProfiler();
  const threads0 = threadsCpu();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let delivered = 0;
  let batches = 0;
  const take = () => {
    const p = shipper.takeProgress();
    delivered += p.delivered;
    batches += p.batchSeconds.length;
  };
  if (role === 'ship') {
    await shipper.drain(Date.now() + 120_000);
    take();
  } else {
    // Caught up with a trail being appended to, as in the sidecar: until every event is acknowledged.
    const running = shipper.start();
    while (delivered < events && performance.now() - t0 < 120_000) {
      await new Promise((r) => setTimeout(r, 50));
      take();
    }
    await shipper.stop();
    await running;
    take();
  }
  const c = process.cpuUsage(c0);
  const wallMs = performance.now() - t0;
  const threads1 = threadsCpu();
  // CPU µs per event of each thread that ran in the phase (name: µs), busiest first.
  const threads = Object.fromEntries([...threads1].map(([tid, t]) => [`${t.name}/${tid === process.pid ? 'main' : tid}`, (t.us - (threads0.get(tid)?.us ?? 0)) / Math.max(1, delivered)])
    .filter(([, us]) => us >= 0.5).sort((a, b) => b[1] - a[1]).map(([k, us]) => [k, Number(us.toFixed(1))]));
  if (profiler !== undefined) await profiler.stopInto(profDir);
  await sink.close();
  return { delivered, cpu_us_per_event: (c.user + c.system) / delivered, sys_us_per_event: c.system / delivered, events_per_batch: delivered / batches, threads, wall_ms: wallMs };
}

/** Linux: CPU µs so far of each thread of this process (utime+stime of /proc/self/task/<tid>/stat), by tid. */
function threadsCpu() {
  const out = new Map();
  let tids;
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return out; // not Linux: no per-thread figures
  }
  const tick = 1e6 / 100; // USER_HZ
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(tid), { name, us: (Number(f[11]) + Number(f[12])) * tick });
    } catch {
      // the thread ended
    }
  }
  return out;
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

/** node flags for the shipping child only (diagnostics, e.g. AUDIT_SHIP_NODE_ARGS=--trace-gc: its lines go to stdout before the result). */
const NODE_FLAGS = (process.env.AUDIT_SHIP_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');

function runChild(args) {
  return new Promise((resolve, reject) => {
    const flags = args.role === 'follow' || args.role === undefined ? NODE_FLAGS : [];
    const c = spawn(process.execPath, [...flags, fileURLToPath(import.meta.url), '--child', JSON.stringify(args)], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    if (NODE_FLAGS.length > 0) c.stdout.on('data', (d) => process.stderr.write(d));
    c.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop())) : reject(new Error(`child exited ${code}`))));
  });
}

const { values } = parseArgs({ options: {
  child: { type: 'string' }, events: { type: 'string', default: '40000' }, rounds: { type: 'string', default: '3' },
  batch: { type: 'string' }, rate: { type: 'string' }, 'max-wait-ms': { type: 'string' }, 'cpu-prof': { type: 'boolean', default: false },
  dist: { type: 'string', default: path.join(REPO, 'dist') }, compression: { type: 'string', default: 'gzip' },
} });
if (values.child) {
  process.stdout.write(`${JSON.stringify(await child(JSON.parse(values.child)))}\n`);
  process.exit(0);
}
const rate = values.rate === undefined ? undefined : Number(values.rate);
// Draining a backlog: 80 per batch unless told; following a trail: the config's default unless told.
const batch = values.batch !== undefined ? Number(values.batch) : rate === undefined ? 80 : undefined;
const maxWaitMs = values['max-wait-ms'] === undefined ? undefined : Number(values['max-wait-ms']);
const broker = await startKafkaBroker();
try {
  const results = [];
  const sys = [];
  const perBatch = [];
  const threadSplit = [];
  for (let r = 0; r < Number(values.rounds); r++) {
    const dir = path.join(OUT, `round-${r}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const args = { distDir: path.resolve(values.dist), dir, events: Number(values.events), broker: broker.address, batch, maxWaitMs, compression: values.compression,
      profDir: values['cpu-prof'] ? path.join(BENCH_DIR, 'out', 'profiles', 'audit-ship') : undefined };
    let res;
    if (rate === undefined) {
      res = await runChild(args);
    } else {
      const writing = runChild({ ...args, role: 'write', rate, profDir: undefined });
      [res] = await Promise.all([runChild({ ...args, role: 'follow' }), writing]);
    }
    if (res.delivered !== Number(values.events)) throw new Error(`delivered ${res.delivered} of ${values.events}`);
    results.push(res.cpu_us_per_event);
    sys.push(res.sys_us_per_event);
    perBatch.push(res.events_per_batch);
    threadSplit.push(res.threads);
    rmSync(dir, { recursive: true, force: true });
  }
  const sorted = [...results].sort((a, b) => a - b);
  console.log(JSON.stringify({ dist: path.relative(REPO, path.resolve(values.dist)) || '.', events: Number(values.events), batch: batch ?? 'default', rate: rate ?? 'backlog', max_wait_ms: maxWaitMs ?? 'default', compression: values.compression,
    cpu_us_per_event_median: Number(sorted[Math.floor(sorted.length / 2)].toFixed(2)), rounds: results.map((x) => Number(x.toFixed(2))),
    sys_us_per_event: sys.map((x) => Number(x.toFixed(2))), events_per_batch: perBatch.map((x) => Math.round(x)), threads_us_per_event: threadSplit,
    loadavg_1m: Number(os.loadavg()[0].toFixed(2)) }));
} finally {
  await broker.stop();
}
