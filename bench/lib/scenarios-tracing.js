// Issue 14's bench scenarios: the cost of decision traces, against the same
// sidecar path without a tracing section.
//
//   tracing_off_16  bench/config/bench.yaml as it is (no tracing section): the baseline
//   tracing_16      bench/config/bench.yaml + tracing, sample_ratio 1: EVERY
//                   decision is a span (the worst case), exported in batches
//                   over OTLP/HTTP JSON to a local receiver in the bench process
//                   that counts spans and answers 200
//   tracing_16_1pct the same with sample_ratio 0.01 (the default): what an
//                   unsampled decision costs (header parse, sampler, stage clocks)
//
// Each line carries the sidecar's own CPU per decision (process_cpu_seconds_total
// over authz_decisions_total during the scenario), the figure that depends
// least on what else the machine runs. The run fails on any denial, and
// tracing_16 fails unless spans were exported. Dropped spans are reported,
// not failed: the processor exports one batch at a time, so past what one
// export stream carries (batch size over the collector's round trip) the
// bounded queue drops — by design — and the line says how many.
import { createServer } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { withCounterCheck } from './capability-checks.js';
import { startSidecar } from './sidecar-process.js';

const CONFIG_DIR = fileURLToPath(new URL('../config/', import.meta.url));

const COUNTERS = {
  cpu_s: ['process_cpu_seconds_total'],
  decisions: ['authz_decisions_total'],
  exported: ['authz_trace_spans_total', { outcome: 'exported' }],
  dropped_queue_full: ['authz_trace_spans_total', { outcome: 'dropped_queue_full' }],
  dropped_export_failed: ['authz_trace_spans_total', { outcome: 'dropped_export_failed' }],
};

/** A collector stand-in: takes OTLP/HTTP POSTs, counts the spans in each, answers 200. */
async function startReceiver() {
  let spans = 0;
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        for (const rs of body.resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) spans += (ss.spans ?? []).length;
      } catch { /* counted as nothing */ }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}/v1/traces`,
    spans: () => spans,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

function materializeConfig(outDir, name, tracing) {
  const doc = parse(readFileSync(path.join(CONFIG_DIR, 'bench.yaml'), 'utf8'));
  doc.identity.jwt.jwks_file = path.resolve(CONFIG_DIR, doc.identity.jwt.jwks_file);
  if (tracing !== undefined) doc.tracing = tracing;
  const file = path.join(outDir, `${name}.yaml`);
  writeFileSync(file, `# Written by bench/lib/scenarios-tracing.js from bench/config/bench.yaml.\n${stringify(doc)}`);
  return file;
}

function cpuPerDecision(d) {
  return d.decisions > 0 ? Math.round((d.cpu_s * 1e6) / d.decisions * 10) / 10 : null;
}

/** The same sidecar without tracing, with the same CPU accounting. */
async function tracingOff(ctx) {
  const config = materializeConfig(ctx.outDir, 'tracing-off', undefined);
  const sidecar = await startSidecar({ config, cpuProfDir: ctx.cpuProfDir, bin: ctx.sidecarBin });
  return withCounterCheck(sidecar, COUNTERS, (d) => ({ cpu_us_per_decision: cpuPerDecision(d) }));
}

function tracingTarget(name, sampleRatio) {
  return async (ctx) => {
    const receiver = await startReceiver();
    const config = materializeConfig(ctx.outDir, name, {
      otlp: { endpoint: receiver.url }, sample_ratio: sampleRatio, batch: { max_queue: 8192, max_export: 512, delay_ms: 200 },
    });
    let sidecar;
    try {
      sidecar = await startSidecar({ config, cpuProfDir: ctx.cpuProfDir, bin: ctx.sidecarBin });
    } catch (err) {
      await receiver.close();
      throw err;
    }
    const judged = withCounterCheck(sidecar, COUNTERS, (d) => {
      const dropped = d.dropped_queue_full + d.dropped_export_failed;
      if (sampleRatio === 1 && d.exported === 0) {
        throw new Error(`${name}: no span exported (${dropped} dropped); the figure would not be of a tracing sidecar`);
      }
      return { cpu_us_per_decision: cpuPerDecision(d), sample_ratio: sampleRatio, spans_exported: d.exported, spans_dropped: dropped, spans_received_total: receiver.spans() };
    }, { settle: () => new Promise((r) => setTimeout(r, 500)) }); // one batch delay, so the last spans are counted
    return { ...judged, stop: async () => { await sidecar.stop(); await receiver.close(); } };
  };
}

export const TRACING_TARGETS = {
  tracing_off: { start: tracingOff },
  tracing_all: { start: tracingTarget('tracing-all', 1) },
  tracing_1pct: { start: tracingTarget('tracing-1pct', 0.01) },
};

/** Opt-in (--only tracing); each compared with tracing_off_16, the same path without a tracing section, run just before. */
export const TRACING_SCENARIOS = [
  { name: 'tracing_off_16', target: 'tracing_off', driver: 'grpc', concurrency: 16, optIn: true },
  { name: 'tracing_16', target: 'tracing_all', driver: 'grpc', concurrency: 16, baseline: 'tracing_off_16', optIn: true },
  { name: 'tracing_16_1pct', target: 'tracing_1pct', driver: 'grpc', concurrency: 16, baseline: 'tracing_off_16', optIn: true },
];
