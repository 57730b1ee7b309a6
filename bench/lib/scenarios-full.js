// Issue 12's bench scenarios: the whole pipeline a user deploys on one route
// (JWT identity, tenant, RBAC, embedded rebac, policy, memory budget, audit
// to the JSONL trail and Kafka), against the no-op gRPC responder run the
// same way, and the ladder that adds one stage at a time.
//
//   full_noop_1 / full_1             1 connection, 1 stream
//   full_noop_16 / full_16           1 connection, 16 streams
//   full_noop_rate_2000              the no-op at a fixed 2 000 requests/s, 1
//                                    connection with 4 streams
//   ladder_{core,rebac,policy,budget,audit}
//                                    the same fixed load, each rung a sidecar
//                                    with one more stage; each line carries the
//                                    CPU µs per decision that rung adds over the
//                                    one below (cpu_us_added). Fixed rate, not
//                                    saturation: CPU per decision depends on the
//                                    rate (syscalls and wake-ups are shared by
//                                    fewer requests at low rates), so rungs are
//                                    compared at one rate every rung sustains
//   full_rate_N                      the whole pipeline at fixed N requests/s
//                                    (1 000, 2 000, 5 000), 1 connection × 4
//                                    streams, against full_noop_rate_N (opt-in)
//   full_noop_overload, full_overload, full_overload_shed
//                                    1.5 × full_16's rps from the same run, 4
//                                    connections × 256 streams (opt-in): the
//                                    no-op, then the sidecar with load
//                                    shedding off / on: past saturation, does
//                                    p99.9 stay under deadline_ms (50), and how
//                                    far is it from the no-op's at that load?
//
// bench/config/full.yaml is the template; each rung is written to
// bench/out/full-<rung>.yaml. The policy is the test stand-in module unless
// --policy-bundle is given. Denials are not fatal here (they count in
// `errors`, with `denied_by` naming reason and stage) except where a probe
// proves a stage is on the route; the overload scenario expects them.
import { setTimeout } from 'node:timers';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { deltas } from './capability-checks.js';
import { probeGrpc } from './drivers.js';
import { startKafkaBroker } from './kafka-broker.js';
import { fetchMetrics, readCounters } from './metrics-text.js';
import { startNoopServer } from './noop-servers.js';
import { writeCheckRequestBody } from './requests.js';
import { buildStandinBundle, STANDIN_ENTRYPOINT } from './scenarios-policy.js';
import { processCpuUs } from './process-cpu.js';
import { startSidecar } from './sidecar-process.js';
import { budgetEveryTenant, writeVariedTuples } from './varied-requests.js';

const CONFIG_DIR = fileURLToPath(new URL('../config/', import.meta.url));
const TEMPLATE = path.join(CONFIG_DIR, 'full.yaml');
const PROBE_ROUTE = 'inspect-project';
const DRAIN_TIMEOUT_MS = 20_000;

/** The ladder, bottom up: each rung is the one below plus one capability. */
export const RUNGS = ['core', 'rebac', 'policy', 'budget', 'audit'];
const STAGE_OF = { rebac: 'rebac', policy: 'policy', budget: 'budget' };

const COUNTERS = {
  charged: ['authz_budget_charged_total'],
  exhausted: ['authz_budget_exhausted_total'],
  eval_failures: ['authz_policy_evaluation_failures_total'],
  eval_timeouts: ['authz_policy_evaluation_failures_total', { kind: 'timeout' }],
  emitted: ['audit_events_emitted_total'],
  delivered_kafka: ['audit_events_delivered_total', { sink: 'kafka' }],
  dropped: ['audit_events_dropped_total'],
  backlog_kafka: ['authz_audit_backlog_bytes', { sink: 'kafka' }],
  shed: ['authz_shed_total'],
};

/**
 * Writes the config of one rung to `<outDir>/full-<instance>.yaml` (instance:
 * the rung unless named): the template with the sections and route stages
 * above the rung removed, relative paths made absolute, the broker's address
 * and the policy bundle filled in. Each instance has its own audit trail
 * directory, so two audited sidecars of one run never share (or delete) one.
 * `varied` (decide-ladder --vary: bench/lib/varied-requests.js) are further
 * principals the config must allow: their tuples and their tenants' budgets.
 */
export function materializeConfig(outDir, rung, { brokerAddress, bundle, entrypoint, standin, varied, instance = rung }) {
  const doc = parse(readFileSync(TEMPLATE, 'utf8'));
  const level = RUNGS.indexOf(rung);
  const has = (r) => RUNGS.indexOf(r) <= level;
  doc.identity.jwt.jwks_file = path.resolve(CONFIG_DIR, doc.identity.jwt.jwks_file);
  doc.rebac.embedded.model = path.resolve(CONFIG_DIR, doc.rebac.embedded.model);
  doc.rebac.embedded.tuples = path.resolve(CONFIG_DIR, doc.rebac.embedded.tuples);
  if (varied) {
    doc.rebac.embedded.tuples = writeVariedTuples(outDir, doc.rebac.embedded.tuples, varied);
    budgetEveryTenant(doc.budget, varied);
  }
  for (const section of ['rebac', 'policy', 'budget', 'audit']) if (!has(section)) delete doc[section];
  if (doc.policy) {
    doc.policy.bundle.file = bundle;
    doc.policy.entrypoint = entrypoint;
  }
  if (doc.audit) {
    const trail = doc.audit.sinks.find((s) => s.jsonl).jsonl;
    trail.dir = path.join(outDir, `full-${instance}`, 'trail');
    doc.audit.sinks.find((s) => s.kafka).kafka.brokers = [brokerAddress];
    // A trail left by an earlier run would be shipped again or chained onto.
    rmSync(path.dirname(trail.dir), { recursive: true, force: true });
  }
  if (!standin || !has('policy')) doc.routes = doc.routes.filter((r) => r.name !== PROBE_ROUTE);
  for (const route of doc.routes) {
    route.stages = route.stages.filter((s) => {
      const kind = typeof s === 'string' ? s : Object.keys(s)[0];
      return STAGE_OF[kind] === undefined || has(STAGE_OF[kind]);
    });
    for (const s of route.stages) if (s.policy) s.policy.entrypoint = entrypoint;
  }
  mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `full-${instance}.yaml`);
  writeFileSync(file, `# Written by bench/lib/scenarios-full.js from bench/config/full.yaml (rung ${rung}).\n${stringify(doc)}`);
  return file;
}

/** Denies `body` with `reason` or throws: proof that a stage is on the route. Retries a cold start's deadline miss or shed. */
async function assertDeniedWith(sidecar, body, reason, what) {
  let probe;
  for (let attempt = 1; attempt <= 5; attempt++) {
    probe = await probeGrpc(sidecar.ports.grpc, body);
    // A cold process may miss its deadline, or (load shedding on) run late enough to shed.
    if (probe.allowed || !/deadline_exceeded|overloaded/.test(probe.detail)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  if (probe.allowed || !probe.detail.includes(reason)) {
    throw new Error(`full-pipeline sidecar: ${what} should be denied ${reason}, got ${probe.allowed ? 'allowed' : 'denied'} (${probe.detail})`);
  }
}

async function assertStagesDecide(sidecar, outDir, rung, standin) {
  const level = RUNGS.indexOf(rung);
  const token = readFileSync(path.join(outDir, 'token.jwt'), 'utf8').trim();
  const dir = path.join(outDir, 'full');
  mkdirSync(dir, { recursive: true });
  if (level >= RUNGS.indexOf('rebac')) {
    const body = writeCheckRequestBody(path.join(dir, 'check-unowned.bin'), {
      method: 'GET', path: '/api/v1/tenants/acme/projects/p-unowned', host: 'api.bench.local', token,
    });
    await assertDeniedWith(sidecar, body, 'rebac_denied', 'a request for p-unowned (no tuples)');
  }
  if (standin && level >= RUNGS.indexOf('policy')) {
    const body = writeCheckRequestBody(path.join(dir, 'check-inspect.bin'), {
      method: 'POST', path: '/api/v1/tenants/acme/projects/p-42/inspect', host: 'api.bench.local', token,
    });
    await assertDeniedWith(sidecar, body, 'policy_denied', `action inspect (refused by ${STANDIN_ENTRYPOINT})`);
  }
}

/** Denials by reason and stage since the sidecar started: { 'reason/stage': n }. */
async function denialsByReason(adminPort) {
  const out = {};
  for (const line of (await fetchMetrics(adminPort)).split('\n')) {
    if (!line.startsWith('authz_decisions_total{') || !line.includes('result="deny"')) continue;
    const reason = /reason="([^"]*)"/.exec(line)?.[1] ?? '?';
    const stage = /stage="([^"]*)"/.exec(line)?.[1] ?? '?';
    const key = `${reason}/${stage}`;
    out[key] = (out[key] ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return out;
}

/** Waits (bounded) until the shipper has caught up with the trail, so that one scenario's backlog is not the next one's load. */
async function waitAuditDrained(adminPort) {
  const until = Date.now() + DRAIN_TIMEOUT_MS;
  for (;;) {
    const c = await readCounters(adminPort, COUNTERS);
    if (c.backlog_kafka === 0) return true;
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function fullSidecar(ctx, rung, env = {}, instance = rung) {
  const level = RUNGS.indexOf(rung);
  const standin = !ctx.policyBundle;
  const withPolicy = level >= RUNGS.indexOf('policy');
  const withAudit = level >= RUNGS.indexOf('audit');
  const bundle = withPolicy ? (standin ? buildStandinBundle(ctx.outDir, ctx.log) : ctx.policyBundle) : undefined;
  const entrypoint = standin ? STANDIN_ENTRYPOINT : (ctx.policyEntrypoint ?? 'authz/allow');
  const broker = withAudit ? await startKafkaBroker() : undefined;
  let sidecar;
  try {
    const config = materializeConfig(ctx.outDir, rung, { brokerAddress: broker?.address, bundle, entrypoint, standin, instance });
    sidecar = await startSidecar({ config, env, cpuProfDir: ctx.cpuProfDir, bin: ctx.sidecarBin });
    await assertStagesDecide(sidecar, ctx.outDir, rung, standin);
  } catch (err) {
    await sidecar?.stop();
    await broker?.stop();
    throw err;
  }
  const admin = sidecar.ports.admin;
  return {
    ...sidecar,
    async beginScenario(scenario) {
      const before = await readCounters(admin, COUNTERS);
      const deniedBefore = await denialsByReason(admin);
      // The test broker shares the two cores (a real Kafka would not): its CPU is shown, never hidden.
      const brokerCpuBefore = processCpuUs(broker?.pid);
      return async (result, extra, baselineLine) => {
        const drained = withAudit ? await waitAuditDrained(admin) : true;
        const d = deltas(before, await readCounters(admin, COUNTERS));
        const brokerCpuAfter = processCpuUs(broker?.pid);
        const deniedAfter = await denialsByReason(admin);
        const deniedBy = Object.fromEntries(Object.entries(deniedAfter)
          .map(([k, v]) => [k, v - (deniedBefore[k] ?? 0)]).filter(([, v]) => v > 0));
        const problems = [];
        // Stopped at the decision's deadline is how a late decision ends (deadline_exceeded), not a broken policy.
        if (d.eval_failures > d.eval_timeouts) problems.push(`${d.eval_failures - d.eval_timeouts} policy evaluations failed`);
        if (level >= RUNGS.indexOf('budget') && d.charged + d.exhausted + extra.denied < result.requests) {
          problems.push(`${d.charged} budget charges for ${result.requests} answered requests: is the budget stage on the route?`);
        }
        // Shed decisions are not audited (decision/load-shedder.ts); every other one is.
        if (withAudit && d.emitted < extra.decisions - d.shed) problems.push(`${d.emitted} audit events for ${extra.decisions - d.shed} decisions not shed`);
        if (problems.length > 0) throw new Error(`${scenario.name}: ${problems.join('; ')}`);
        const fields = { rung, policy_module: withPolicy ? (standin ? 'test stand-in (not compiled Rego)' : path.basename(bundle)) : undefined };
        if (Object.keys(deniedBy).length > 0) fields.denied_by = deniedBy;
        if (d.shed > 0) fields.shed = d.shed;
        if (d.eval_timeouts > 0) fields.policy_stopped_at_deadline = d.eval_timeouts;
        if (withAudit) Object.assign(fields, { audit_emitted: d.emitted, audit_delivered_kafka: d.delivered_kafka, audit_dropped: d.dropped, audit_drained: drained });
        if (brokerCpuBefore !== undefined && brokerCpuAfter !== undefined && extra.decisions > 0) {
          fields.broker_cpu_us_per_decision = Number(((brokerCpuAfter - brokerCpuBefore) / extra.decisions).toFixed(1));
        }
        if (scenario.ladder && baselineLine?.cpu_us_per_decision !== undefined && extra.cpu_us_per_decision !== undefined) {
          fields.cpu_us_added = Number((extra.cpu_us_per_decision - baselineLine.cpu_us_per_decision).toFixed(1));
          fields.main_thread_cpu_us_added = Number((extra.main_thread_cpu_us_per_decision - baselineLine.main_thread_cpu_us_per_decision).toFixed(1));
        }
        return fields;
      };
    },
    stop: async () => {
      // The sidecar first: its SIGTERM drain delivers to the broker.
      await sidecar.stop();
      await broker?.stop();
    },
  };
}

export const FULL_TARGETS = {
  full_noop: { start: async () => { const s = await startNoopServer('http2'); return { ...s, ports: { grpc: s.port } }; } },
  full: { start: (ctx) => fullSidecar(ctx, 'audit') },
  // The same with load shedding on (its defaults: lag 20 ms, 1000 in flight), for the overload scenario.
  full_shed: { start: (ctx) => fullSidecar(ctx, 'audit', { AUTHZ__LOAD_SHEDDING__ENABLED: 'true' }, 'shed') },
  // Every rung its own fresh process, the audit rung too: on the `full` target it ran after full_16 and the
  // idle minute the other rungs take, by when V8 had shrunk the young generation to 1 MB (22–24 ms/s of GC in
  // ~25 pauses/s at 2,000/s, against ~6 in 4 for a fresh sidecar), and the ladder charged that to audit.
  ...Object.fromEntries(RUNGS.map((rung) => [`ladder_${rung}`, { start: (ctx) => fullSidecar(ctx, rung, {}, `ladder-${rung}`) }])),
};

/** Fixed rates of the opt-in full_rate_* scenarios (requests/s, 1 connection, 4 streams). */
export const FIXED_RATES = [1000, 2000, 5000];
/** The ladder's fixed load: the reference rate, one every rung sustains on two shared cores. */
const LADDER_RATE = 2000;
const OVERLOAD_FACTOR = 1.5;

const grpc = { driver: 'grpc' };
export const FULL_SCENARIOS = [
  { name: 'full_noop_1', target: 'full_noop', ...grpc, concurrency: 1 },
  { name: 'full_1', target: 'full', ...grpc, concurrency: 1, baseline: 'full_noop_1' },
  { name: 'full_noop_16', target: 'full_noop', ...grpc, concurrency: 16 },
  { name: 'full_16', target: 'full', ...grpc, concurrency: 16, baseline: 'full_noop_16' },
  ...FIXED_RATES.flatMap((rate) => [
    // The ladder's no-op baseline is in the default run; the other rates are opt-in.
    { name: `full_noop_rate_${rate}`, target: 'full_noop', ...grpc, concurrency: 4, rate, optIn: rate !== LADDER_RATE },
    { name: `full_rate_${rate}`, target: 'full', ...grpc, concurrency: 4, rate, baseline: `full_noop_rate_${rate}`, optIn: true },
  ]),
  // The ladder: each rung compared with the one below (core with the no-op); `cpu_us_added` is the difference.
  ...RUNGS.map((rung, i) => ({
    name: `ladder_${rung}`, target: `ladder_${rung}`, ...grpc, concurrency: 4, rate: LADDER_RATE, ladder: true,
    baseline: i === 0 ? `full_noop_rate_${LADDER_RATE}` : `ladder_${RUNGS[i - 1]}`,
  })),
  // Each rung below the full pipeline saturated like full_16 (opt-in: --only rung_): splits full_16's CPU per
  // decision over the rungs at the same load shape, where the fixed-rate ladder amortizes less per read and write.
  ...RUNGS.slice(0, -1).map((rung) => ({
    name: `rung_${rung}_16`, target: `ladder_${rung}`, ...grpc, concurrency: 16, baseline: 'full_noop_16', optIn: true,
  })),
  // Past saturation: offered 1.5 × what full_16 answered in this run, with far more in flight than 16
  // (4 connections × 256 streams, as many downstream clients behind Envoy would be), without and with load shedding.
  // The no-op run the same way first: what the load generator and the machine give at that rate and concurrency.
  ...[['full_noop_overload', 'full_noop'], ['full_overload', 'full'], ['full_overload_shed', 'full_shed']].map(([name, target]) => ({
    name, target, ...grpc, clients: 4, concurrency: 256, baseline: 'full_16', optIn: true,
    rate: (baselineLine) => OVERLOAD_FACTOR * baselineLine.rps,
  })),
];
