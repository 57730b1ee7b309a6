#!/usr/bin/env node
// The audit stage's cost on the decision thread, two builds in one process,
// interleaved: a sidecar without audit (bench/config/full.yaml at the budget
// rung) decides the bench's CheckRequest in batches of 256 at --rate/s, as the
// ladder does, and each decision is then recorded by the audit capability of
// build A or of build B (a JSONL trail each, fsync interval, no remote sink),
// alternating batch by batch. Both builds run cold the same way (~40 µs of
// pipeline between two records) under the same machine load, so a change of
// a microsecond shows, where two ladder runs differ by ±5 µs.
//
//   npm run build && node bench/audit-record-ab.js --a /tmp/base-dist [--b dist] [--n 40000] [--rate 2000] [--vary 1]
//
// --vary N: N distinct allowed requests in turn (bench/lib/varied-requests.js,
// as decide-ladder --vary) instead of one repeated request.
//
// Keep the other build's copy outside the repository (not under bench/out/):
// tap's coverage exclusion of bench/** expands over every file there, and a
// copy of dist/ makes its command line too long to start (E2BIG).
//
// Prints per build: wall µs per record() call (hrtime around it; GC pauses
// that land in it count), and the main thread's CPU µs per decision over
// the batches of that build (/proc/thread-self/schedstat, ns; the fsync
// interval's work between batches lands in whichever build's batch follows,
// so compare it over many batches).
import { readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { mintBenchCredentials } from './lib/credentials.js';
import { loadDecisionPath } from './lib/dist-decision-path.js';
import { materializeConfig } from './lib/scenarios-full.js';
import { buildStandinBundle, STANDIN_ENTRYPOINT } from './lib/scenarios-policy.js';
import { variedCheckMessages } from './lib/varied-requests.js';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(BENCH_DIR, '..');
const OUT = path.join(BENCH_DIR, 'out');
const BATCH = 256;
const { values } = parseArgs({ options: {
  a: { type: 'string', default: path.join(os.tmpdir(), 'base-dist') }, b: { type: 'string', default: path.join(REPO, 'dist') },
  n: { type: 'string', default: '40000' }, rate: { type: 'string', default: '2000' }, vary: { type: 'string', default: '1' },
} });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const threadNs = () => Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]);

const credentials = await mintBenchCredentials(OUT);
const READ_PROJECT = { method: 'GET', path: '/api/v1/tenants/acme/projects/p-42', host: 'api.bench.local' };
const { vary, varied, messages: msgs } = await variedCheckMessages(values.vary, credentials, READ_PROJECT);
let next = 0;
const bundle = buildStandinBundle(OUT, () => undefined);
const config = materializeConfig(OUT, 'budget', { bundle, entrypoint: STANDIN_ENTRYPOINT, standin: true, varied });
const { dist, createLogger, decodeCheckRequest, authzRequestFromCheck, encodeCheckResponseFrame, startOffline } = await loadDecisionPath(values.b);
const { SidecarMetrics } = await dist('observability/metrics.js');
const sidecar = await startOffline(config);

const builds = [];
for (const [name, dir] of [['A', values.a], ['B', values.b]]) {
  const { createAuditCapability } = await import(path.join(path.resolve(dir), 'audit/capability.js'));
  const base = path.join(OUT, `audit-record-ab-${name}`);
  rmSync(base, { recursive: true, force: true });
  const cap = createAuditCapability({ sinks: [{ jsonl: { dir: 'trail' } }] },
    { log: createLogger('warn'), metrics: new SidecarMetrics({ defaultMetrics: false }), baseDir: base });
  await cap.ready();
  builds.push({ name, dir, cap, base, wallNs: 0n, cpuNs: 0, records: 0, failed: 0 });
}

const one = async (build) => {
  const msg = msgs[next];
  next = next + 1 === msgs.length ? 0 : next + 1;
  const req = authzRequestFromCheck(decodeCheckRequest(msg));
  let d = sidecar.decide(req);
  if (d instanceof Promise) d = await d;
  const t0 = process.hrtime.bigint();
  const ok = build.cap.onDecision(d, req);
  build.wallNs += process.hrtime.bigint() - t0;
  if (!ok) build.failed++;
  build.records++;
  return encodeCheckResponseFrame(d);
};
for (let i = 0; i < 2000; i++) await one(builds[i % 2]); // warm-up
for (const b of builds) Object.assign(b, { wallNs: 0n, records: 0, cpuNs: 0 });

const n = Number(values.n);
const batchMs = (1000 * BATCH) / Number(values.rate);
process.stderr.write(`audit-record-ab: ${os.availableParallelism()} cores, node ${process.version}, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; ${n} decisions at ${values.rate}/s, ${vary} distinct request${vary === 1 ? '' : 's'}\n`);
const start = performance.now();
for (let done = 0, k = 0; done < n; done += BATCH, k++) {
  const build = builds[k % 2];
  const c0 = threadNs();
  for (let i = 0; i < BATCH; i++) await one(build);
  const due = start + ((done + BATCH) / BATCH) * batchMs;
  await sleep(Math.max(0, due - performance.now()));
  build.cpuNs += threadNs() - c0; // the batch, and what ran on this thread while it waited for the next
}
for (const b of builds) {
  process.stdout.write(`${JSON.stringify({ build: b.name, dist: path.relative(REPO, path.resolve(b.dir)), record_wall_us: Number((Number(b.wallNs) / 1e3 / b.records).toFixed(2)),
    main_thread_cpu_us_per_decision: Number((b.cpuNs / 1e3 / b.records).toFixed(2)), vary, records: b.records, failed: b.failed, loadavg_1m: Number(os.loadavg()[0].toFixed(2)) })}\n`);
}
for (const b of builds) await b.cap.close();
await sidecar.close();
for (const b of builds) rmSync(b.base, { recursive: true, force: true });
