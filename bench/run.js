#!/usr/bin/env node
// `npm run bench`: no-op ceilings and the sidecar under the same load shapes,
// one JSON line per scenario on stdout (and in bench/out/latest.jsonl).
//
//   node bench/run.js [--only PREFIX[,PREFIX]] [--duration S] [--warmup S]
//                     [--no-baseline] [--cpu-prof] [--sidecar-bin PATH] [--list]
//                     [--policy-bundle PATH [--policy-entrypoint NAME]]
//
// A scenario names a target (a server process to start), a driver (grpc via
// h2load, http via wrk), a concurrency, and the no-op scenario it is compared
// with. Scenarios run in the order listed; a target process starts at its
// first scenario and stops after its last. To add a scenario, add a target if it needs a new process or
// config, then a line in SCENARIOS — see bench/README.md.
import os from 'node:os';
import { setTimeout } from 'node:timers';
import path from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import { acquireRunLock } from './lib/run-lock.js';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { mintBenchCredentials } from './lib/credentials.js';
import { probeGrpc, probeHttp, runH2load, runWrk } from './lib/drivers.js';
import { startNoopServer } from './lib/noop-servers.js';
import { eventLoopFields, fetchMetrics } from './lib/metrics-text.js';
import { Report } from './lib/report.js';
import { AUDIT_SCENARIOS, AUDIT_TARGETS } from './lib/scenarios-audit.js';
import { BUDGET_SCENARIOS, BUDGET_TARGETS } from './lib/scenarios-budget.js';
import { POLICY_1, POLICY_16, POLICY_TARGETS } from './lib/scenarios-policy.js';
import { PROXY_TARGETS, proxyScenarios } from './lib/scenarios-proxy.js';
import { REBAC_SCENARIOS, REBAC_TARGETS } from './lib/scenarios-rebac.js';
import { FULL_SCENARIOS, FULL_TARGETS } from './lib/scenarios-full.js';
import { cpuPerRequest, peakRssMb, readProcessCpu, resetPeakRss } from './lib/process-cpu.js';
import { TRACING_SCENARIOS, TRACING_TARGETS } from './lib/scenarios-tracing.js';
import { httpAuthzHeaders, writeCheckRequestBody } from './lib/requests.js';
import { startSidecar } from './lib/sidecar-process.js';
import { ensureTools } from './lib/tools.js';
import { hostSpeedMs } from './lib/host-speed.js';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const OUT_DIR = path.join(BENCH_DIR, 'out');

/** The proxied request every scenario authorizes: route read-project in bench/config/bench.yaml. */
const READ_PROJECT = { method: 'GET', path: '/api/v1/tenants/acme/projects/p-42', host: 'api.bench.local' };

/** Server processes. start(ctx) resolves { ports: { grpc?, http? }, stop(), decisionCounts?() }. */
const TARGETS = {
  noop_http2: {
    start: async () => { const s = await startNoopServer('http2'); return { ...s, ports: { grpc: s.port } }; },
  },
  noop_http: {
    start: async () => { const s = await startNoopServer('http'); return { ...s, ports: { http: s.port } }; },
  },
  sidecar: {
    start: (ctx) => startSidecar({ config: path.join(BENCH_DIR, 'config/bench.yaml'), cpuProfDir: ctx.cpuProfDir, bin: ctx.sidecarBin }),
  },
  // Issue 5 (budget backends) and issue 6 (audit to Kafka): bench/lib/scenarios-{budget,audit}.js.
  ...BUDGET_TARGETS,
  ...AUDIT_TARGETS,
  // Issue 3 (rebac: embedded, remote cache hit and miss against fga serve): bench/lib/scenarios-rebac.js.
  ...REBAC_TARGETS,
  // Issue 4 (policy stage; the test stand-in module unless --policy-bundle): bench/lib/scenarios-policy.js.
  ...POLICY_TARGETS,
  // Issue 16 (inline proxy vs bare keep-alive proxies and the upstream direct): bench/lib/scenarios-proxy.js.
  ...PROXY_TARGETS,
  // Issue 12 (the whole pipeline, the ladder, fixed rates, overload): bench/lib/scenarios-full.js.
  ...FULL_TARGETS,
  // Issue 14 (decision traces over OTLP/HTTP, every decision and 1 %): bench/lib/scenarios-tracing.js.
  ...TRACING_TARGETS,
};

/**
 * Run order as listed. A target starts at its first scenario and stops after
 * its last, so each scenario runs right after its baseline: a drift in the
 * machine's background load then moves both figures of a ratio alike.
 */
const SCENARIOS = [
  { name: 'noop_http2_1', target: 'noop_http2', driver: 'grpc', concurrency: 1 },
  { name: 'grpc_check_1', target: 'sidecar', driver: 'grpc', concurrency: 1, baseline: 'noop_http2_1', request: READ_PROJECT },
  POLICY_1, // compared with grpc_check_1: the same path plus the policy stage
  { name: 'noop_http2_16', target: 'noop_http2', driver: 'grpc', concurrency: 16 },
  { name: 'grpc_check_16', target: 'sidecar', driver: 'grpc', concurrency: 16, baseline: 'noop_http2_16', request: READ_PROJECT },
  POLICY_16, // compared with grpc_check_16
  ...TRACING_SCENARIOS, // opt-in (--only tracing); compared with grpc_check_16
  { name: 'noop_http_1', target: 'noop_http', driver: 'http', concurrency: 1 },
  { name: 'http_check_1', target: 'sidecar', driver: 'http', concurrency: 1, baseline: 'noop_http_1', request: READ_PROJECT },
  { name: 'noop_http_16', target: 'noop_http', driver: 'http', concurrency: 16 },
  { name: 'http_check_16', target: 'sidecar', driver: 'http', concurrency: 16, baseline: 'noop_http_16', request: READ_PROJECT },
  // Each compared with the same sidecar without the capability (run first in its group).
  ...BUDGET_SCENARIOS,
  ...AUDIT_SCENARIOS,
  // Opt-in (--only rebac); compared with grpc_check_1/16, the same sidecar path without rebac.
  ...REBAC_SCENARIOS,
  // proxy_16 compared with a bare undici proxy; the rest opt-in (--only proxy).
  ...proxyScenarios(READ_PROJECT),
  // The whole pipeline against its own no-op runs, then the ladder; fixed-rate and overload ones opt-in.
  ...FULL_SCENARIOS,
];

const log = (line) => process.stderr.write(`${line}\n`);

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      only: { type: 'string', multiple: true },
      duration: { type: 'string', default: '8' },
      warmup: { type: 'string', default: '2' },
      'no-baseline': { type: 'boolean', default: false },
      'cpu-prof': { type: 'boolean', default: false },
      'sidecar-bin': { type: 'string' },
      list: { type: 'boolean', default: false },
      'policy-bundle': { type: 'string' },
      'policy-entrypoint': { type: 'string' },
    },
  });
  const durationS = Number(values.duration);
  const warmupS = Number(values.warmup);
  if (!Number.isInteger(durationS) || durationS < 1) throw new Error('--duration takes whole seconds ≥ 1');
  if (!Number.isInteger(warmupS) || warmupS < 0) throw new Error('--warmup takes whole seconds ≥ 0');
  const prefixes = (values.only ?? []).flatMap((o) => o.split(',')).filter(Boolean);
  return { prefixes, durationS, warmupS, withBaselines: !values['no-baseline'], cpuProf: values['cpu-prof'], list: values.list,
    sidecarBin: values['sidecar-bin'] && path.resolve(values['sidecar-bin']),
    policyBundle: values['policy-bundle'] && path.resolve(values['policy-bundle']), policyEntrypoint: values['policy-entrypoint'] };
}

/** The scenarios --only picks, plus the baselines their ratios need. */
function selectScenarios(prefixes, withBaselines) {
  // optIn scenarios run only when --only names them.
  if (prefixes.length === 0) return SCENARIOS.filter((s) => !s.optIn);
  // A full scenario name picks just that one (grpc_check_1 is a prefix of grpc_check_16).
  const matches = (name, p) => (SCENARIOS.some((s) => s.name === p) ? name === p : name.startsWith(p));
  const picked = new Set(SCENARIOS.filter((s) => prefixes.some((p) => matches(s.name, p))).map((s) => s.name));
  if (picked.size === 0) throw new Error(`--only ${prefixes.join(',')} matches no scenario; try --list`);
  if (withBaselines) for (const s of SCENARIOS) if (picked.has(s.name) && s.baseline) picked.add(s.baseline);
  return SCENARIOS.filter((s) => picked.has(s.name));
}

function checkScenarios(scenarios) {
  for (const s of scenarios) {
    if (!TARGETS[s.target]) throw new Error(`scenario ${s.name}: unknown target ${s.target}`);
    if (s.baseline && !SCENARIOS.some((b) => b.name === s.baseline)) throw new Error(`scenario ${s.name}: unknown baseline ${s.baseline}`);
  }
}

/**
 * Fails loudly unless the target allows this scenario's request: a benchmark
 * of denials is worthless. A freshly started process may miss its deadline on
 * the very first request (cold JIT, key import), so a deny is retried a few
 * times before giving up, and each retried deny is reported.
 */
async function assertAllowed(scenario, server, fixtures) {
  const attempts = 5;
  for (let attempt = 1; ; attempt++) {
    const probe = scenario.driver === 'grpc'
      ? await probeGrpc(server.ports.grpc, fixtures.grpcBody)
      : await probeHttp(server.ports.http, (scenario.request ?? READ_PROJECT).path, fixtures.httpHeaders);
    if (probe.allowed) return;
    if (attempt === attempts) {
      throw new Error(`${scenario.name}: the probe request was NOT allowed by ${scenario.target} ` +
        `(${probe.detail}); refusing to benchmark denials`);
    }
    log(`bench: WARNING ${scenario.name}: probe ${attempt} denied by ${scenario.target} (${probe.detail}); retrying`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * A scenario's `rate` (requests/s, gRPC only) makes its load fixed-rate
 * instead of closed-loop; it may be a function of the baseline's line (e.g.
 * 1.5 × the rps a saturating scenario reached in this run).
 */
function rateOf(scenario, baselineLine) {
  if (typeof scenario.rate !== 'function') return scenario.rate;
  if (baselineLine === undefined) throw new Error(`scenario ${scenario.name}: its rate needs ${scenario.baseline} to run first`);
  return scenario.rate(baselineLine);
}

async function runScenario(scenario, server, fixtures, opts, baselineLine) {
  const common = { durationS: opts.durationS, warmupS: opts.warmupS };
  // A scenario may bring its own driver (rebac_miss_16: one h2load per distinct request).
  if (scenario.run) return scenario.run({ port: server.ports.grpc, server, fixtures, outDir: OUT_DIR, scenario, baselineLine, ...common });
  if (scenario.driver === 'grpc') {
    return runH2load({
      port: server.ports.grpc, bodyFile: fixtures.grpcBodyFile, streams: scenario.concurrency,
      clients: scenario.clients, rate: rateOf(scenario, baselineLine),
      logFile: path.join(OUT_DIR, `${scenario.name}.h2load.log`), ...common,
    });
  }
  if (scenario.driver === 'http') {
    return runWrk({
      port: server.ports.http, path: (scenario.request ?? READ_PROJECT).path, headers: fixtures.httpHeaders,
      connections: scenario.concurrency, threads: scenario.concurrency > 1 ? 2 : 1, ...common,
    });
  }
  throw new Error(`scenario ${scenario.name}: unknown driver ${scenario.driver}`);
}

function machine() {
  const cpus = os.cpus();
  return {
    nproc: os.availableParallelism(),
    cpu: cpus[0]?.model ?? 'unknown',
    memory_gib: Number((os.totalmem() / 2 ** 30).toFixed(1)),
    node: process.version,
    kernel: os.release(),
    date: new Date().toISOString(),
    loadavg: os.loadavg().map((x) => Number(x.toFixed(2))),
    host_speed_ms: hostSpeedMs(),
  };
}

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  if (opts.list) {
    for (const s of SCENARIOS) {
      const rate = s.rate === undefined ? '' : ` rate=${typeof s.rate === 'function' ? 'from baseline' : `${s.rate}/s`}`;
      log(`${s.name.padEnd(28)} target=${s.target} driver=${s.driver} ${s.clients ? `clients=${s.clients} ` : ''}concurrency=${s.concurrency}${rate} baseline=${s.baseline ?? '-'}${s.optIn ? ' (opt-in: --only)' : ''}`);
    }
    return;
  }
  checkScenarios(SCENARIOS);
  const scenarios = selectScenarios(opts.prefixes, opts.withBaselines);
  ensureTools(log);

  mkdirSync(OUT_DIR, { recursive: true });
  acquireRunLock(OUT_DIR);
  const info = machine();
  writeFileSync(path.join(OUT_DIR, 'machine.json'), `${JSON.stringify(info, null, 2)}\n`);
  log(`bench: ${info.nproc} cores (${info.cpu}), node ${info.node}, load ${info.loadavg.join(' ')}, host speed ${info.host_speed_ms} ms; ` +
    `${scenarios.length} scenarios × (${opts.warmupS}s warm-up + ${opts.durationS}s)`);
  if (info.nproc < 4) log('bench: no CPU pinning — too few cores to give server and load generator their own; they share.');

  const credentials = await mintBenchCredentials(OUT_DIR);
  const grpcBodyFile = path.join(OUT_DIR, 'check-request.bin');
  const request = { ...READ_PROJECT, token: credentials.token };
  const fixtures = {
    grpcBodyFile,
    grpcBody: writeCheckRequestBody(grpcBodyFile, request),
    httpHeaders: httpAuthzHeaders(request),
  };
  const cpuProfDir = opts.cpuProf ? path.join(OUT_DIR, 'profiles') : undefined;

  const report = new Report(OUT_DIR);
  const lastUse = new Map(scenarios.map((s, i) => [s.target, i]));
  const running = new Map();
  try {
    for (const [i, scenario] of scenarios.entries()) {
      let server = running.get(scenario.target);
      if (server === undefined) {
        log(`bench: starting ${scenario.target}`);
        server = await TARGETS[scenario.target].start({ cpuProfDir, outDir: OUT_DIR, sidecarBin: opts.sidecarBin, log,
          policyBundle: opts.policyBundle, policyEntrypoint: opts.policyEntrypoint });
        running.set(scenario.target, server);
      }
      await assertAllowed(scenario, server, fixtures);
      log(`bench: ${scenario.name} (${scenario.driver}, concurrency ${scenario.concurrency})`);
      const loadBefore = os.loadavg()[0];
      // Before the load, with the target idle: how fast the host is for this scenario (bench/lib/host-speed.js).
      const hostSpeed = hostSpeedMs();
      const before = server.decisionCounts ? await server.decisionCounts() : undefined;
      // Capability targets check their own counters (budget refusals, audit delivery); see bench/lib/capability-checks.js.
      const finishChecks = server.beginScenario ? await server.beginScenario(scenario) : undefined;
      const baselineLine = report.lines.get(scenario.baseline);
      // The server's own CPU over the measured phase (sampled when the warm-up should end, and after the load).
      let cpuBefore;
      let rssReset = false;
      const warmupOver = new Promise((r) => setTimeout(r, opts.warmupS * 1000)).then(() => {
        cpuBefore = readProcessCpu(server.pid);
        rssReset = resetPeakRss(server.pid);
      });
      const admin = server.ports.admin;
      const metricsBefore = admin === undefined ? undefined : await fetchMetrics(admin);
      const startedAt = performance.now();
      const result = await runScenario(scenario, server, fixtures, opts, baselineLine);
      // First scrape after the load: it holds the event-loop delay over the scenario (see eventLoopFields).
      const loop = metricsBefore === undefined ? {} : eventLoopFields(metricsBefore, await fetchMetrics(admin), (performance.now() - startedAt) / 1000);
      await warmupOver;
      const cpu = cpuPerRequest(cpuBefore, readProcessCpu(server.pid), result.requests);
      // The server's peak memory over the measured phase: what a container limit must hold.
      const peakRss = rssReset ? peakRssMb(server.pid) : undefined;
      const extra = {
        driver: scenario.driver, concurrency: scenario.concurrency, duration_s: opts.durationS,
        ...(scenario.clients ? { clients: scenario.clients } : {}),
        ...(scenario.rate === undefined ? {} : { offered_rps: Math.round(rateOf(scenario, baselineLine)) }),
        loadavg_1m: Number(loadBefore.toFixed(2)),
        host_speed_ms: hostSpeed,
        ...cpu,
        ...(peakRss === undefined ? {} : { peak_rss_mb: peakRss }),
        ...loop,
      };
      if (before) {
        // gRPC denials are HTTP 200 to h2load; the sidecar's own counter sees
        // them (warm-up and the probe included).
        const after = await server.decisionCounts();
        const delta = (k) => (after[k] ?? 0) - (before[k] ?? 0);
        extra.decisions = Object.keys(after).reduce((sum, k) => sum + delta(k), 0);
        extra.denied = delta('deny');
        result.errors += extra.denied;
        if (extra.decisions < result.requests) {
          throw new Error(`${scenario.name}: the sidecar counted ${extra.decisions} decisions for ${result.requests} responses; its metrics or the route are not what the bench expects`);
        }
      }
      if (finishChecks) Object.assign(extra, await finishChecks(result, extra, baselineLine));
      const line = report.add(scenario, result, extra);
      if (line.errors > 0) log(`bench: WARNING ${scenario.name} had ${line.errors} errors/denials`);
      if (lastUse.get(scenario.target) === i) {
        running.delete(scenario.target);
        await server.stop();
      }
    }
  } finally {
    await Promise.all([...running.values()].map((s) => s.stop()));
  }
  const ladder = report.ladder();
  info.host_speed_ms_end = hostSpeedMs();
  writeFileSync(path.join(OUT_DIR, 'machine.json'), `${JSON.stringify(info, null, 2)}\n`);
  log(`bench: host speed ${info.host_speed_ms} ms at the start, ${info.host_speed_ms_end} ms at the end (the same fixed work; lower is faster)`);
  log(`\n${report.summary()}${ladder ? `\n\n${ladder}` : ''}\n\nbench: wrote ${path.relative(process.cwd(), report.file)}`);
  if (cpuProfDir) log(`bench: sidecar CPU profiles in ${path.relative(process.cwd(), cpuProfDir)} (summarize: node bench/profile-summary.js FILE)`);
}

main().catch((err) => {
  log(`bench: FAILED: ${err.message}`);
  process.exitCode = 1;
});
