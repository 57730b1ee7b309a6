// What the capability scenarios (budget, audit) add to a sidecar target: a
// per-scenario check of the sidecar's own counters, run by bench/run.js as
//
//   const finish = await server.beginScenario(scenario);   // before the load
//   Object.assign(extra, await finish(result, extra, baselineLine));
//
// `finish` throws when the counters say the figures cannot be trusted.
import { fetchMetrics, readCounters } from './metrics-text.js';

/** Counter deltas between two readCounters() results. */
export function deltas(before, after) {
  return Object.fromEntries(Object.keys(after).map((k) => [k, after[k] - (before[k] ?? 0)]));
}

/**
 * Adds `beginScenario` to a started sidecar: reads `counters` (key → [metric,
 * labels]) before and after, and hands the deltas to `judge(d, result, extra)`,
 * which throws on anything suspect and returns the fields to add to the line.
 * `settle()`, when given, runs first after the load (e.g. waiting for the audit
 * queue to drain). The capability-off baseline's rps and p99 go next to the
 * scenario's own.
 */
export function withCounterCheck(sidecar, counters, judge, { settle } = {}) {
  return {
    ...sidecar,
    async beginScenario(scenario) {
      const before = await readCounters(sidecar.ports.admin, counters);
      return async (result, extra, baselineLine) => {
        // Zero denials: a deny is cheap, and a bench of denials measures nothing.
        if (extra.denied > 0) {
          throw new Error(`${scenario.name}: the sidecar denied ${extra.denied} requests during the run; ` +
            `the figures would be of denials, not of the capability. Denials since it started:\n${await denialLines(sidecar.ports.admin)}`);
        }
        if (settle) await settle();
        const d = deltas(before, await readCounters(sidecar.ports.admin, counters));
        const fields = await judge(d, result, extra, scenario);
        return { ...sideBySide(baselineLine), ...fields };
      };
    },
  };
}

/** The capability-off baseline's figures, for reading rps and p99 side by side. */
export function sideBySide(baselineLine) {
  if (baselineLine === undefined) return {};
  return { baseline_rps: baselineLine.rps, baseline_p99_ms: baselineLine.p99_ms };
}

/** The sidecar's authz_decisions_total samples for denials (reason and stage), for the failure message. */
async function denialLines(adminPort) {
  const text = await fetchMetrics(adminPort);
  return text.split('\n').filter((l) => l.startsWith('authz_decisions_total{') && l.includes('result="deny"')).join('\n');
}
