#!/usr/bin/env node
// The ladder in process: what each stage costs on the decision thread, with
// no network, no load generator and no HTTP/2 in the figure.
//
//   node bench/decide-ladder.js [--rounds 5] [--n 4000] [--rate 2000] [--vary 1] [--dist DIR] [--rungs policy,budget] [--cpu-prof] [--alloc [--alloc-top 10]] [--policy-bundle PATH [--policy-entrypoint NAME]]
//
// --vary N: cycle N distinct allowed requests (each its own subject and token,
// tenant among four, project, x-request-id: bench/lib/varied-requests.js)
// instead of one repeated request. With 1 (the default, the figures earlier
// sessions recorded) every memo on the decision path hits every time; with
// e.g. 64 a memo of the last request misses and a keyed cache is looked up
// by different keys.
//
// --rungs: only these rungs (the first one's added_* is then against nothing).
//
// --alloc: also the bytes each decision allocates on the decision thread
// (V8's sampling heap profiler, counting objects already collected too) and
// the functions that allocate most: garbage is what the young-generation GC
// pauses for, and unlike CPU time it does not move with the machine's load.
// The sampler costs CPU itself: compare CPU figures only between runs without it.
// --alloc-top: how many allocation sites to list per rung (default 10).
// --dist: another build's dist/ (e.g. a copy of the build before a change), to compare two builds.
// --cpu-prof: each rung's profiles to bench/out/profiles/decide-<rung>/, one file per thread (node's default
// names: …<pid>.0.001 is the main thread, …<pid>.1.002 the audit shipper thread; node bench/profile-summary.js).
//
// For each rung of bench/config/full.yaml (core = [tenant, rbac] after JWT
// identity, + rebac, + policy, + budget, + audit), a fresh child process
// starts the compiled sidecar (dist/) without listening and runs the bench's
// CheckRequest through what the gRPC transport does per request — decode the
// protobuf, build the AuthzRequest, decide(), encode the CheckResponse frame —
// N times per round, in batches of 256 paced to `--rate` decisions/s, so
// that background work (audit batches to the JSONL trail and the test Kafka
// broker, timers) runs between batches, is counted, and keeps up (a tight
// loop would overflow the audit queue and measure denials).
//
// Per rung: `main_thread_cpu_us` — CPU time of the main thread (the decision
// thread: /proc/self/task/<pid>/stat) per decision over all rounds, background
// work on that thread included; `cpu_us` — the whole process's CPU
// (process.cpuUsage: worker threads and libuv's pool too) per decision,
// median round; `added_*` — the difference to the rung below.
//
// Why in process: on two cores shared with ~8 engineers, the socket bench's
// CPU per decision moved by tens of percent between identical runs
// (scheduling, cache contention, the load generator); without the network,
// the load generator and HTTP/2 in the figure, a stage's cost stands out.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setImmediate } from 'node:timers/promises';
import { mintBenchCredentials } from './lib/credentials.js';
import { loadDecisionPath } from './lib/dist-decision-path.js';
import { startKafkaBroker } from './lib/kafka-broker.js';
import { readProcessCpu, readThreadsCpu } from './lib/process-cpu.js';
import { acquireRunLock } from './lib/run-lock.js';
import { materializeConfig, RUNGS } from './lib/scenarios-full.js';
import { buildStandinBundle, STANDIN_ENTRYPOINT } from './lib/scenarios-policy.js';
import { variedCheckMessages } from './lib/varied-requests.js';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(BENCH_DIR, '..');
const OUT_DIR = path.join(BENCH_DIR, 'out');
const BATCH = 256;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const READ_PROJECT = { method: 'GET', path: '/api/v1/tenants/acme/projects/p-42', host: 'api.bench.local' };

const log = (line) => process.stderr.write(`${line}\n`);

/** Starts V8's sampling heap profiler on this thread; stop() → { bytes, top: [[site, bytes], ...] }. */
async function sampleAllocations(topN) {
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  return async () => {
    const { profile } = await session.post('HeapProfiler.stopSampling');
    session.disconnect();
    const bySite = new Map();
    const walk = (node) => {
      const f = node.callFrame;
      const site = `${f.functionName || '(anonymous)'} ${f.url.replace(`file://${REPO}/`, '')}:${f.lineNumber + 1}`;
      bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
      for (const c of node.children) walk(c);
    };
    walk(profile.head);
    const bytes = [...bySite.values()].reduce((a, b) => a + b, 0);
    return { bytes, top: [...bySite].sort((a, b) => b[1] - a[1]).slice(0, topN) };
  };
}

async function child({ config, rounds, n, rate, messages, distDir, alloc, allocTop }) {
  const { decodeCheckRequest, authzRequestFromCheck, encodeCheckResponseFrame, startOffline } = await loadDecisionPath(distDir);
  const sidecar = await startOffline(config);
  const msgs = messages.map((m) => Buffer.from(m, 'base64'));
  let next = 0;
  let denied = 0;
  let reason;
  const one = async () => {
    const msg = msgs[next];
    next = next + 1 === msgs.length ? 0 : next + 1;
    let d = sidecar.decide(authzRequestFromCheck(decodeCheckRequest(msg)));
    if (d instanceof Promise) d = await d;
    if (!d.allowed) {
      denied++;
      reason = d.reason;
    }
    return encodeCheckResponseFrame(d);
  };
  for (let i = 0; i < 2000; i++) await one(); // warm-up: JIT, caches
  const batchMs = (1000 * BATCH) / rate;
  const cpu = [];
  const stopSampling = alloc ? await sampleAllocations(allocTop) : undefined;
  const main0 = readProcessCpu(process.pid);
  const threads0 = readThreadsCpu(process.pid);
  for (let r = 0; r < rounds; r++) {
    const c0 = process.cpuUsage();
    const start = performance.now();
    for (let done = 0; done < n; done += BATCH) {
      for (let i = 0; i < BATCH; i++) await one(); // synchronous stages resolve at once
      const due = start + ((done + BATCH) / BATCH) * batchMs;
      await (due > performance.now() ? sleep(due - performance.now()) : setImmediate());
    }
    // Let the audit pipeline's batch timer (≤ 50 ms) flush what this round queued, and count it.
    await sleep(120);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / n);
  }
  const main1 = readProcessCpu(process.pid);
  const threads1 = readThreadsCpu(process.pid);
  const sampled = await stopSampling?.();
  await sidecar.close();
  const median = [...cpu].sort((x, y) => x - y)[Math.floor(cpu.length / 2)];
  // The other threads, busiest first (the audit shipper thread, libuv's pool — zlib, fs —, V8's GC helpers): µs per decision.
  const others = [...threads1].filter(([tid]) => tid !== process.pid)
    .map(([tid, us]) => (us - (threads0.get(tid) ?? 0)) / (n * rounds)).sort((a, b) => b - a);
  const allocFields = sampled === undefined ? {} : {
    alloc_bytes: Math.round(sampled.bytes / (n * rounds)),
    alloc_top: sampled.top.map(([site, bytes]) => [site, Math.round(bytes / (n * rounds))]),
  };
  return { main_thread_cpu_us: (main1.main_thread_us - main0.main_thread_us) / (n * rounds), cpu_us: median, denied, deny_reason: reason,
    other_threads_cpu_us: others.slice(0, 4).map((x) => Number(x.toFixed(1))), ...allocFields };
}

function runChild(args, cpuProfDir) {
  // No --cpu-prof-name: with one name every thread's profile would overwrite the others'.
  const prof = cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${path.join(cpuProfDir, `decide-${args.rung}`)}`] : [];
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [...prof, fileURLToPath(import.meta.url), '--child', JSON.stringify(args)], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    c.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop())) : reject(new Error(`rung ${args.rung} exited ${code}`))));
  });
}

async function main() {
  const { values } = parseArgs({
    options: {
      child: { type: 'string' },
      rounds: { type: 'string', default: '5' },
      n: { type: 'string', default: '4000' },
      rate: { type: 'string', default: '2000' },
      vary: { type: 'string', default: '1' },
      dist: { type: 'string', default: path.join(REPO, 'dist') },
      'cpu-prof': { type: 'boolean', default: false },
      rungs: { type: 'string', default: RUNGS.join(',') },
      alloc: { type: 'boolean', default: false },
      'alloc-top': { type: 'string', default: '10' },
      'policy-bundle': { type: 'string' },
      'policy-entrypoint': { type: 'string' },
    },
  });
  if (values.child) {
    process.stdout.write(`${JSON.stringify(await child(JSON.parse(values.child)))}\n`);
    process.exit(0);
  }
  mkdirSync(OUT_DIR, { recursive: true });
  acquireRunLock(OUT_DIR);
  const credentials = await mintBenchCredentials(OUT_DIR);
  // --vary 1 is the one request earlier figures were measured with (alice, acme, p-42).
  const { vary, varied, messages: bytes } = await variedCheckMessages(values.vary, credentials, READ_PROJECT);
  const messages = bytes.map((m) => m.toString('base64'));
  const standin = !values['policy-bundle'];
  const bundle = standin ? buildStandinBundle(OUT_DIR, log) : path.resolve(values['policy-bundle']);
  const entrypoint = standin ? STANDIN_ENTRYPOINT : (values['policy-entrypoint'] ?? 'authz/allow');
  const rounds = Number(values.rounds);
  const n = Number(values.n);
  const rate = Number(values.rate);
  log(`decide-ladder: ${os.availableParallelism()} cores, node ${process.version}, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; ${rounds} rounds × ${n} decisions per rung at ${rate}/s, ${vary} distinct request${vary === 1 ? '' : 's'}`);
  const lines = [];
  const rungs = values.rungs.split(',');
  for (const r of rungs) if (!RUNGS.includes(r)) throw new Error(`--rungs: ${r} is not one of ${RUNGS.join(', ')}`);
  for (const rung of rungs) {
    const broker = rung === 'audit' ? await startKafkaBroker() : undefined;
    try {
      const config = materializeConfig(OUT_DIR, rung, { brokerAddress: broker?.address, bundle, entrypoint, standin, varied });
      const r = await runChild({ rung, config, rounds, n, rate, messages, distDir: path.resolve(values.dist), alloc: values.alloc, allocTop: Number(values['alloc-top']) },
        values['cpu-prof'] ? path.join(OUT_DIR, 'profiles') : undefined);
      const below = lines.at(-1);
      const line = {
        rung, vary, main_thread_cpu_us: Number(r.main_thread_cpu_us.toFixed(2)), cpu_us: Number(r.cpu_us.toFixed(2)),
        added_main_thread_cpu_us: below ? Number((r.main_thread_cpu_us - below.main_thread_cpu_us).toFixed(2)) : null,
        added_cpu_us: below ? Number((r.cpu_us - below.cpu_us).toFixed(2)) : null,
        other_threads_cpu_us: r.other_threads_cpu_us,
        denied: r.denied, ...(r.denied ? { deny_reason: r.deny_reason } : {}),
        ...(r.alloc_bytes === undefined ? {} : {
          alloc_bytes: r.alloc_bytes, added_alloc_bytes: below?.alloc_bytes === undefined ? null : r.alloc_bytes - below.alloc_bytes, alloc_top: r.alloc_top,
        }),
        loadavg_1m: Number(os.loadavg()[0].toFixed(2)),
        ...(rung === 'policy' || RUNGS.indexOf(rung) > RUNGS.indexOf('policy') ? { policy_module: standin ? 'test stand-in (not compiled Rego)' : path.basename(bundle) } : {}),
      };
      if (r.denied > 0) log(`decide-ladder: WARNING rung ${rung} denied ${r.denied} decisions (${r.deny_reason})`);
      lines.push(line);
      process.stdout.write(`${JSON.stringify(line)}\n`);
    } finally {
      await broker?.stop();
    }
  }
  // bench/targets.js reads the rungs from here, next to the socket bench's latest.jsonl (a --rungs subset, or a --vary run, is not the ladder it compares).
  if (values.rungs === RUNGS.join(',') && vary === 1) writeFileSync(path.join(OUT_DIR, 'decide-ladder.jsonl'), lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
  log('\nrung      main thread CPU µs/decision (+added)   process CPU µs/decision (+added)');
  for (const l of lines) {
    const plus = (x) => (x === null ? '' : ` (${x >= 0 ? '+' : ''}${x})`);
    log(`${l.rung.padEnd(8)}  ${`${l.main_thread_cpu_us}${plus(l.added_main_thread_cpu_us)}`.padEnd(40)}  ${l.cpu_us}${plus(l.added_cpu_us)}`);
  }
  if (values.alloc) {
    for (const l of lines) {
      log(`\n${l.rung}: ${l.alloc_bytes} bytes allocated per decision on the decision thread${l.added_alloc_bytes === null ? '' : ` (${l.added_alloc_bytes >= 0 ? '+' : ''}${l.added_alloc_bytes})`}`);
      for (const [site, bytes] of l.alloc_top) log(`  ${String(bytes).padStart(6)} B  ${site}`);
    }
  }
}

main().catch((err) => {
  log(`decide-ladder: FAILED: ${err.message}`);
  process.exitCode = 1;
});
