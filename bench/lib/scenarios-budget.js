// Issue 5's bench scenarios: the budget stage on the benchmarked route, with
// each backend, against the same sidecar without it.
//
//   budget_off_16           bench/config/bench.yaml: [tenant, rbac]
//   budget_memory_16        bench/config/budget.yaml: [tenant, rbac, budget], memory backend
//   budget_redis_16         the same, backend redis (a real redis-server on loopback)
//   budget_redis_leases_16  the same, redis with leases
//
// gRPC, one connection, 16 streams (HTTP variants opt-in, below); each compared with budget_off_16
// (its `baseline`, so `ratio_to_noop` in those lines is the ratio to the
// budget-less sidecar). The limits in budget.yaml are unreachable, and the
// run fails if any request is refused, if Redis reports an error, or if fewer
// requests were charged than were answered.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { withCounterCheck } from './capability-checks.js';
import { commandStats, redisCommand, startRedis } from './redis-process.js';
import { startSidecar } from './sidecar-process.js';

const CONFIG_DIR = fileURLToPath(new URL('../config/', import.meta.url));
const PLAIN = path.join(CONFIG_DIR, 'bench.yaml');
const BUDGET = path.join(CONFIG_DIR, 'budget.yaml');

const COUNTERS = {
  charged: ['authz_budget_charged_total'],
  charged_memory: ['authz_budget_charged_total', { path: 'memory' }],
  charged_redis: ['authz_budget_charged_total', { path: 'redis' }],
  charged_lease: ['authz_budget_charged_total', { path: 'lease' }],
  charged_local: ['authz_budget_charged_total', { path: 'local' }],
  exhausted: ['authz_budget_exhausted_total'],
  warnings: ['authz_budget_warnings_total'],
  redis_errors: ['authz_budget_redis_errors_total'],
  redis_charge_calls: ['authz_budget_redis_duration_seconds_count', { op: 'charge' }],
  lease_grants: ['authz_budget_lease_grants_total'],
  redis_batches: ['authz_budget_redis_batch_charges_count'],
  replies_refused: ['authz_budget_redis_replies_refused_total'],
  cpu_s: ['process_cpu_seconds_total'],
};

/** The budget-less sidecar's counters: decisions and CPU, for its CPU µs per decision. */
const OFF_COUNTERS = {
  decisions: ['authz_decisions_total'],
  cpu_s: ['process_cpu_seconds_total'],
};

/** Throws unless every answered request was charged and none refused; returns the line's budget fields. */
function judgeBudget(d, result, extra, scenario) {
  const problems = [];
  if (d.exhausted > 0) problems.push(`${d.exhausted} requests refused by a budget (authz_budget_exhausted_total)`);
  if (d.redis_errors > 0) problems.push(`${d.redis_errors} Redis errors (authz_budget_redis_errors_total)`);
  if (d.replies_refused > 0) problems.push(`${d.replies_refused} Redis replies refused (authz_budget_redis_replies_refused_total)`);
  if (d.charged_local > 0) problems.push(`${d.charged_local} charges fell back to local counters`);
  if (d.charged < result.requests) problems.push(`only ${d.charged} charges for ${result.requests} answered requests: is the budget stage on the route?`);
  if (problems.length > 0) throw new Error(`${scenario.name}: ${problems.join('; ')}`);
  const charged = d.charged || 1;
  return {
    budget_charged: d.charged,
    budget_paths: { memory: d.charged_memory, redis: d.charged_redis, lease: d.charged_lease },
    // Round trips per decision: at most 1 for plain redis (less when charges are batched); leases bring it near 0.
    redis_calls_per_decision: Number((d.redis_charge_calls / charged).toFixed(4)),
    charges_per_redis_call: d.redis_batches > 0 ? Number((charged / d.redis_batches).toFixed(2)) : 0,
    // From the sidecar's own process_cpu_seconds_total, over the scenario (warm-up included).
    sidecar_cpu_us_per_decision: Math.round((d.cpu_s * 1e6) / charged),
    lease_grants: d.lease_grants,
    budget_warnings: d.warnings,
  };
}

function judgeOff(d) {
  return { sidecar_cpu_us_per_decision: d.decisions > 0 ? Math.round((d.cpu_s * 1e6) / d.decisions) : 0 };
}

/** CPU seconds a process has used (utime + stime from /proc; Linux only, else undefined). */
function processCpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/**
 * Adds redis-server's CPU µs per charged decision to the scenario's line, and
 * its own time per charge script call (INFO commandstats: EVALSHA's
 * usec_per_call, the Lua script's cost inside Redis).
 */
function withRedisCpu(sidecar, redis) {
  return {
    ...sidecar,
    async beginScenario(scenario) {
      const finish = await sidecar.beginScenario(scenario);
      await redisCommand(redis.port, 'CONFIG RESETSTAT');
      const before = processCpuSeconds(redis.pid);
      return async (result, extra, baselineLine) => {
        const fields = await finish(result, extra, baselineLine);
        const after = processCpuSeconds(redis.pid);
        const script = await commandStats(redis.port, 'evalsha');
        if (before === undefined || after === undefined || !fields.budget_charged) return fields;
        return {
          ...fields,
          redis_cpu_us_per_decision: Math.round(((after - before) * 1e6) / fields.budget_charged),
          redis_script_us_per_call: script.usecPerCall,
        };
      };
    },
  };
}

async function budgetSidecar(ctx, env = {}) {
  const sidecar = await startSidecar({ config: BUDGET, env, cpuProfDir: ctx.cpuProfDir, bin: ctx.sidecarBin });
  return withCounterCheck(sidecar, COUNTERS, judgeBudget);
}

/** A redis-server of its own (fresh counters), then the sidecar pointed at it; stops both. */
async function redisBudgetSidecar(ctx, { leases }) {
  const redis = await startRedis({ log: ctx.log });
  let sidecar;
  try {
    sidecar = await budgetSidecar(ctx, {
      AUTHZ__BUDGET__BACKEND: 'redis',
      AUTHZ__BUDGET__REDIS__URL: redis.url,
      AUTHZ__BUDGET__LEASES__ENABLED: String(leases),
    });
  } catch (err) {
    await redis.stop();
    throw err;
  }
  return {
    ...withRedisCpu(sidecar, redis),
    stop: async () => {
      // The sidecar first: it gives its leases back to Redis on close.
      await sidecar.stop();
      await redis.stop();
    },
  };
}

export const BUDGET_TARGETS = {
  budget_off: {
    start: async (ctx) => withCounterCheck(await startSidecar({ config: PLAIN, cpuProfDir: ctx.cpuProfDir, bin: ctx.sidecarBin }), OFF_COUNTERS, judgeOff),
  },
  budget_memory: { start: (ctx) => budgetSidecar(ctx) },
  budget_redis: { start: (ctx) => redisBudgetSidecar(ctx, { leases: false }) },
  budget_redis_leases: { start: (ctx) => redisBudgetSidecar(ctx, { leases: true }) },
};

// The *_http_16 variants (wrk, 16 connections, HTTP ext_authz) are opt-in:
// not in the default run, picked by --only (e.g. --only budget).
export const BUDGET_SCENARIOS = [
  { name: 'budget_off_16', target: 'budget_off', driver: 'grpc', concurrency: 16 },
  { name: 'budget_off_http_16', target: 'budget_off', driver: 'http', concurrency: 16, optIn: true },
  { name: 'budget_memory_16', target: 'budget_memory', driver: 'grpc', concurrency: 16, baseline: 'budget_off_16' },
  { name: 'budget_memory_http_16', target: 'budget_memory', driver: 'http', concurrency: 16, baseline: 'budget_off_http_16', optIn: true },
  { name: 'budget_redis_16', target: 'budget_redis', driver: 'grpc', concurrency: 16, baseline: 'budget_off_16' },
  { name: 'budget_redis_http_16', target: 'budget_redis', driver: 'http', concurrency: 16, baseline: 'budget_off_http_16', optIn: true },
  { name: 'budget_redis_leases_16', target: 'budget_redis_leases', driver: 'grpc', concurrency: 16, baseline: 'budget_off_16' },
  { name: 'budget_redis_leases_http_16', target: 'budget_redis_leases', driver: 'http', concurrency: 16, baseline: 'budget_off_http_16', optIn: true },
];
