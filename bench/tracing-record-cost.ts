// In-process cost of the tracing capability's per-decision work, without a
// sidecar around it: CPU µs per decision spent in onDecision (propagator,
// sampler, span and attributes) and, separately, in the batch exports that
// follow (OTLP/JSON encoding and the HTTP POST to a local receiver).
//
//   node --import tsx bench/tracing-record-cost.ts [sample_ratio=1] [decisions=50000]
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import type { AuthzRequest, Decision } from '../src/decision/types.js';
import { createLogger } from '../src/observability/logger.js';
import { SidecarMetrics } from '../src/observability/metrics.js';
import { createTracingCapability } from '../src/tracing/capability.js';

const ratio = Number(process.argv[2] ?? 1);
const n = Number(process.argv[3] ?? 50_000);
const receiver = createServer((req, res) => {
  req.resume();
  req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{}'); });
});
await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/v1/traces`;
const tracing = createTracingCapability(
  { otlp: { endpoint }, sample_ratio: ratio, batch: { max_queue: 100_000, delay_ms: 50 } },
  { log: createLogger('silent'), metrics: new SidecarMetrics(), baseDir: '.' },
);
const decision = {
  decisionId: '2f1c0a9e-4b7d-4c55-9a0e-3d1e7b6c5a41', allowed: true, status: 200, reason: 'allowed', stage: 'engine', mode: 'deny',
  upstreamHeaders: {}, responseHeaders: {}, annotations: {}, durationSeconds: 0.0002, route: 'read-project', action: 'read',
  resource: { type: 'project', id: 'p-42', tenant: 'acme' },
  stageTimings: [{ stage: 'tenant', ms: 0.004 }, { stage: 'rbac', ms: 0.006 }],
} as unknown as Decision;
const req = { headers: { host: 'api.bench.local', authorization: 'Bearer x' }, method: 'GET', path: '/api/v1/tenants/acme/projects/p-42', transport: 'grpc' } as unknown as AuthzRequest;

async function run(count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    tracing.onDecision!(decision, req);
    if (i % 1000 === 999) await nextTurn(); // let the batch timer and exports run, as between requests
  }
}

await run(5_000); // warm-up
await sleep(500);
const recordStart = process.cpuUsage();
await run(n);
const record = process.cpuUsage(recordStart);
const exportStart = process.cpuUsage();
await sleep(2_000); // the exports still queued
const exported = process.cpuUsage(exportStart);
await tracing.close();
receiver.close();
const perDecision = (u: NodeJS.CpuUsage): string => ((u.user + u.system) / n).toFixed(2);
console.log(JSON.stringify({ sample_ratio: ratio, decisions: n, record_cpu_us: Number(perDecision(record)), export_after_cpu_us: Number(perDecision(exported)) }));
