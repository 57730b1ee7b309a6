#!/usr/bin/env node
// Client-side CPU per OpenFGA Check, @openfga/sdk against the sidecar's own
// undici path (dist/rebac/remote/fga-client.js), against one `fga serve`
// process on this machine: the measurement behind "Check and BatchCheck on
// undici, model reads on the SDK" (docs/rebac.md). Only this process's CPU
// is counted (process.cpuUsage), so the server's share and the machine's
// load move throughput, not the figure.
//
//   npm run build && node bench/scripts/fga-client-cpu.js [--seconds 5] [--concurrency 16] [--latency-ms 0]
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { OpenFgaClient } from '@openfga/sdk';
import { Registry } from 'prom-client';
import { startFgaServe } from '../lib/fga-process.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '16' },
    'latency-ms': { type: 'string', default: '0' },
  },
});
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
const MODEL = fileURLToPath(new URL('../../config/fga/model.fga', import.meta.url));
const TUPLES = fileURLToPath(new URL('../config/rebac-tuples.yaml', import.meta.url));

const { FgaClient } = await import('../../dist/rebac/remote/fga-client.js');
const { RebacMetrics } = await import('../../dist/rebac/metrics.js');
const { parseRebacConfig } = await import('../../dist/rebac/config.js');

const fga = await startFgaServe({ model: MODEL, tuples: TUPLES, latencyMs: Number(values['latency-ms']) });
try {
  const config = parseRebacConfig({ mode: 'remote', remote: { api_url: fga.apiUrl, store_id: fga.storeId } }).remote;
  const ours = new FgaClient(config, new RebacMetrics(new Registry()));
  const model = await ours.readModel(undefined, 5000);
  const sdk = new OpenFgaClient({ apiUrl: fga.apiUrl, storeId: fga.storeId, authorizationModelId: model.id, retryParams: { maxRetry: 0 }, telemetry: { metrics: {} } });
  const check = (i) => ({ user: 'user:alice', relation: 'can_read', object: `project:p-${i % 16}` });
  const paths = {
    sdk: (i) => sdk.check(check(i)).then((r) => r.allowed),
    undici: (i) => ours.check(check(i), model.id, 5000),
  };
  console.error(`fga-client-cpu: ${os.cpus().length} cores, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}, ${concurrency} in flight, ${seconds} s per path`);
  for (const round of [1, 2]) {
    for (const [name, call] of Object.entries(paths)) {
      let n = 0;
      const until = performance.now() + seconds * 1000;
      // Warm-up: connections open, code optimized.
      await Promise.all(Array.from({ length: concurrency }, (_, w) => call(w)));
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      await Promise.all(Array.from({ length: concurrency }, async (_, w) => {
        for (let i = w; performance.now() < until; i += concurrency) {
          if ((await call(i)) !== true) throw new Error(`${name}: check ${i} not allowed`);
          n++;
        }
      }));
      const cpu = process.cpuUsage(cpu0);
      const wall = (performance.now() - t0) / 1000;
      console.log(JSON.stringify({
        round, path: name, checks: n, checks_per_s: Math.round(n / wall),
        client_cpu_us_per_check: Math.round((cpu.user + cpu.system) / n), load_1m: Number(os.loadavg()[0].toFixed(2)),
      }));
    }
  }
  await ours.close();
} finally {
  await fga.stop();
}
