#!/usr/bin/env node
// The Redis budget path in process: what one charge through the budget stage
// costs the decision thread, and Redis, when `--concurrency` decisions are in
// flight at once — no HTTP/2, no load generator, no rest of the pipeline.
//
//   node bench/budget-redis-cost.js [--concurrency 16] [--n 50000] [--rounds 3] [--dist DIR] [--leases]
//
// A redis-server of its own (bench/lib/redis-process.js), then the compiled
// budget capability (dist/, or --dist: another build's, to compare two) with
// bench/config/budget.yaml's tenant (four counters per charge, cost 0.001),
// and `concurrency` closed-loop workers each charging one decision after
// another through the stage. Per round: the process's CPU µs per charge
// (process.cpuUsage), Redis's CPU µs per charge (/proc) and its own time per
// script call (INFO commandstats), charges per script call; the median round
// is printed.
//
// Why: on two cores shared with other engineers the socket bench's
// budget_redis_16 ratio moved from 0.38 to 0.99 between identical runs; this
// keeps the figure to the budget path itself.
import path from 'node:path';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { commandStats, redisCommand, startRedis } from './lib/redis-process.js';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    concurrency: { type: 'string', default: '16' },
    n: { type: 'string', default: '50000' },
    rounds: { type: 'string', default: '3' },
    dist: { type: 'string', default: path.join(BENCH_DIR, '..', 'dist') },
    leases: { type: 'boolean', default: false },
  },
});
const concurrency = Number(values.concurrency);
const n = Number(values.n);
const rounds = Number(values.rounds);
const dist = path.resolve(values.dist);
const load = async (rel) => import(pathToFileURL(path.join(dist, rel)).href);

const { createBudgetCapability } = await load('budget/index.js');
const { SidecarMetrics } = await load('observability/metrics.js');
const { createLogger } = await load('observability/logger.js');
const { createDecisionContext } = await load('decision/context.js');

function redisCpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function metricValue(text, name) {
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
}

const principal = { id: 'alice', kind: 'user', tenant: 'acme', roles: ['viewer'], claims: {}, source: 'jwt' };
const resource = { type: 'project', id: 'p-42', tenant: 'acme' };
const request = { headers: {} };
let ids = 0;
const contextFor = () => createDecisionContext({
  decisionId: `d-${ids++}`, principal, action: 'read', resource, route: 'read-project', routeParams: {},
  deadline: performance.now() + 60_000,
});

const redis = await startRedis({ log: (m) => console.error(m) });
const metrics = new SidecarMetrics({ defaultMetrics: false });
const cap = createBudgetCapability({
  backend: 'redis',
  redis: { url: redis.url, timeout_ms: 1000, on_unavailable: 'deny' },
  leases: { enabled: values.leases, slice: 0.1, ttl_s: 10 },
  tenants: { acme: { rps: 1000000, rpm: 60000000, daily: 1000000, monthly: 8000000 } },
}, { log: createLogger('silent'), metrics, baseDir: '.', clock: Date.now, env: {} });
try {
  await cap.ready();
  const stage = cap.stageFactory.create({ cost: 0.001 }, { route: 'read-project', resourceType: 'project', action: 'read' });
  let left = 0;
  let refused = 0;
  const worker = async () => {
    while (left > 0) {
      left--;
      const r = await stage.evaluate(request, contextFor());
      if (r.kind !== 'allow') refused++;
    }
  };
  const run = async (count) => {
    left = count;
    await Promise.all(Array.from({ length: concurrency }, worker));
  };
  await run(Math.min(n, 5000)); // warm-up: JIT, the script cached in Redis
  console.error(`budget-redis-cost: ${os.availableParallelism()} cores, node ${process.version}, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; `
    + `${rounds} rounds × ${n} charges, ${concurrency} in flight${values.leases ? ', leases' : ''}; dist ${dist}`);
  const results = [];
  for (let i = 0; i < rounds; i++) {
    const text0 = await metrics.registry.metrics();
    await redisCommand(redis.port, 'CONFIG RESETSTAT');
    const redis0 = redisCpuSeconds(redis.pid);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await run(n);
    const wall = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const redisCpu = redisCpuSeconds(redis.pid) - redis0;
    const script = await commandStats(redis.port, 'evalsha');
    const text1 = await metrics.registry.metrics();
    const calls = metricValue(text1, 'authz_budget_redis_batch_charges_count') - metricValue(text0, 'authz_budget_redis_batch_charges_count');
    results.push({
      cpu_us_per_charge: Number(((cpu.user + cpu.system) / n).toFixed(2)),
      redis_cpu_us_per_charge: Number(((redisCpu * 1e6) / n).toFixed(2)),
      redis_script_us_per_call: script.usecPerCall,
      charges_per_call: calls > 0 ? Number((n / calls).toFixed(2)) : 0,
      wall_us_per_charge: Number(((wall * 1000) / n).toFixed(2)),
    });
  }
  const median = (key) => results.map((r) => r[key]).sort((a, b) => a - b)[Math.floor(results.length / 2)];
  const line = {
    bench: 'budget-redis-cost', concurrency, n, rounds, leases: values.leases, loadavg_1m: Number(os.loadavg()[0].toFixed(2)),
    cpu_us_per_charge: median('cpu_us_per_charge'),
    redis_cpu_us_per_charge: median('redis_cpu_us_per_charge'),
    redis_script_us_per_call: median('redis_script_us_per_call'),
    charges_per_call: median('charges_per_call'),
    wall_us_per_charge: median('wall_us_per_charge'),
    refused,
    rounds_detail: results,
  };
  console.log(JSON.stringify(line));
  if (refused > 0) process.exitCode = 1;
} finally {
  await cap.close();
  await redis.stop();
}
