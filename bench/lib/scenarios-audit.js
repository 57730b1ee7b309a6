// Issue 6's bench scenarios: the same sidecar and route with audit off, then
// with every decision audited to Kafka.
//
//   audit_off_16    bench/config/bench.yaml: [tenant, rbac], no audit section
//   audit_kafka_16  bench/config/audit-kafka.yaml: the same plus audit to Kafka
//
// There is no Kafka here: the Kafka sink delivers to the wire-protocol test
// broker from test/support/kafka-broker, in its own process on a loopback
// port. After the load the bench waits for the audit queue to drain, then
// fails unless every decision was emitted, every emitted event was delivered
// or spooled (none dropped), and the broker holds at least as many distinct
// events (CloudEvents ids) as the sidecar counted delivered.
import { setTimeout } from 'node:timers';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { withCounterCheck } from './capability-checks.js';
import { startKafkaBroker } from './kafka-broker.js';
import { readCounters } from './metrics-text.js';
import { startSidecar } from './sidecar-process.js';

const CONFIG_DIR = fileURLToPath(new URL('../config/', import.meta.url));
const PLAIN = path.join(CONFIG_DIR, 'bench.yaml');
const TEMPLATE = path.join(CONFIG_DIR, 'audit-kafka.yaml');
const DRAIN_TIMEOUT_MS = 20_000;

const COUNTERS = {
  emitted: ['audit_events_emitted_total'],
  delivered: ['audit_events_delivered_total', { sink: 'kafka' }],
  spooled: ['audit_events_spooled_total'],
  dropped: ['audit_events_dropped_total'],
  sink_errors: ['audit_sink_errors_total'],
  batches: ['audit_sink_latency_seconds_count', { sink: 'kafka' }],
  queue_depth: ['audit_queue_depth'],
};

/**
 * Writes the config the sidecar runs, to `<outDir>/audit-kafka.yaml`: the
 * template with the broker's address and its relative paths made absolute
 * (they were relative to bench/config/). Empties the spool: a spool left by
 * an earlier run would be replayed first and skew the counts.
 */
function materializeConfig(outDir, brokerAddress) {
  const doc = parse(readFileSync(TEMPLATE, 'utf8'));
  doc.identity.jwt.jwks_file = path.resolve(CONFIG_DIR, doc.identity.jwt.jwks_file);
  doc.audit.spool.dir = path.resolve(CONFIG_DIR, doc.audit.spool.dir);
  doc.audit.sinks[0].kafka.brokers = [brokerAddress];
  rmSync(doc.audit.spool.dir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, 'audit-kafka.yaml');
  writeFileSync(file, `# Written by bench/lib/scenarios-audit.js from bench/config/audit-kafka.yaml.\n${stringify(doc)}`);
  return file;
}

/** Waits until the sidecar's audit pipeline has accounted for every emitted event. */
async function waitDrained(adminPort) {
  const until = Date.now() + DRAIN_TIMEOUT_MS;
  for (;;) {
    const c = await readCounters(adminPort, COUNTERS);
    if (c.queue_depth === 0 && c.delivered + c.spooled + c.dropped >= c.emitted) return c;
    if (Date.now() > until) {
      throw new Error(`audit did not drain within ${DRAIN_TIMEOUT_MS} ms: emitted ${c.emitted}, delivered ${c.delivered}, ` +
        `spooled ${c.spooled}, dropped ${c.dropped}, queue ${c.queue_depth}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function auditKafkaSidecar(ctx) {
  const broker = await startKafkaBroker();
  let sidecar;
  try {
    const config = materializeConfig(ctx.outDir, broker.address);
    sidecar = await startSidecar({ config, cpuProfDir: ctx.cpuProfDir, bin: ctx.sidecarBin });
  } catch (err) {
    await broker.stop();
    throw err;
  }
  let brokerBefore;
  let totals;
  const checked = withCounterCheck(sidecar, COUNTERS, async (d, result, extra, scenario) => {
    const brokerAfter = await broker.stats();
    const received = brokerAfter.distinct_ids - brokerBefore.distinct_ids;
    const problems = [];
    if (totals.dropped > 0) problems.push(`${totals.dropped} audit events dropped (audit_events_dropped_total)`);
    if (d.emitted < extra.decisions) problems.push(`${d.emitted} audit events emitted for ${extra.decisions} decisions`);
    if (totals.delivered + totals.spooled !== totals.emitted) {
      problems.push(`emitted ${totals.emitted} ≠ delivered ${totals.delivered} + spooled ${totals.spooled}`);
    }
    // At least once: the broker may hold duplicates, never fewer distinct events than were acknowledged.
    if (brokerAfter.distinct_ids < totals.delivered) {
      problems.push(`the broker holds ${brokerAfter.distinct_ids} distinct events, the sidecar counted ${totals.delivered} delivered`);
    }
    if (problems.length > 0) throw new Error(`${scenario.name}: ${problems.join('; ')}`);
    return {
      audit_emitted: d.emitted,
      audit_delivered: d.delivered,
      audit_spooled: d.spooled,
      audit_dropped: d.dropped,
      audit_sink_errors: d.sink_errors,
      audit_batches: d.batches,
      broker_records: brokerAfter.records - brokerBefore.records,
      broker_distinct_events: received,
      // Whole run of this sidecar (probe included): what the sidecar emitted against what the broker holds.
      audit_accounted: `${totals.emitted} emitted = ${totals.delivered} delivered + ${totals.spooled} spooled; broker has ${brokerAfter.distinct_ids} distinct`,
    };
  }, {
    settle: async () => {
      totals = await waitDrained(sidecar.ports.admin);
    },
  });
  return {
    ...checked,
    async beginScenario(scenario) {
      brokerBefore = await broker.stats();
      return checked.beginScenario(scenario);
    },
    stop: async () => {
      // The sidecar first: its SIGTERM drain delivers to the broker.
      await sidecar.stop();
      await broker.stop();
    },
  };
}

export const AUDIT_TARGETS = {
  audit_off: { start: (ctx) => startSidecar({ config: PLAIN, cpuProfDir: ctx.cpuProfDir, bin: ctx.sidecarBin }) },
  audit_kafka: { start: (ctx) => auditKafkaSidecar(ctx) },
};

// The *_http_16 variants (wrk, 16 connections, HTTP ext_authz) are opt-in:
// not in the default run, picked by --only (e.g. --only audit).
export const AUDIT_SCENARIOS = [
  { name: 'audit_off_16', target: 'audit_off', driver: 'grpc', concurrency: 16 },
  { name: 'audit_off_http_16', target: 'audit_off', driver: 'http', concurrency: 16, optIn: true },
  { name: 'audit_kafka_16', target: 'audit_kafka', driver: 'grpc', concurrency: 16, baseline: 'audit_off_16' },
  { name: 'audit_kafka_http_16', target: 'audit_kafka', driver: 'http', concurrency: 16, baseline: 'audit_off_http_16', optIn: true },
];
