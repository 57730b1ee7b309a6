#!/usr/bin/env node
// node bench/targets.js [FILE.jsonl ...] — the speed targets of issues 12 and
// 16, each next to what the given bench output measured (default
// bench/out/latest.jsonl, plus bench/out/decide-ladder.jsonl when present).
// Later files win for a scenario that appears twice, so several `--only` runs
// can be read together. A target whose scenario was not run says so.
//
// Why a script: the targets are ratios to a baseline of the same run, tails at
// fixed rates and CPU µs per stage; reading them off several runs by hand is
// where mistakes come from.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const OUT_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'out');
const DEFAULT_FILES = [path.join(OUT_DIR, 'latest.jsonl'), path.join(OUT_DIR, 'decide-ladder.jsonl')];

/** Scenario lines by name, and the in-process ladder's rungs by name. */
export function readBenchLines(files) {
  const scenarios = new Map();
  const rungs = new Map();
  for (const file of files) {
    if (!existsSync(file)) continue;
    for (const text of readFileSync(file, 'utf8').split('\n')) {
      if (text.trim() === '') continue;
      const line = JSON.parse(text);
      if (typeof line.scenario === 'string') scenarios.set(line.scenario, line);
      else if (typeof line.rung === 'string') rungs.set(line.rung, line);
    }
  }
  return { scenarios, rungs };
}

const at = (m, name, field) => m.get(name)?.[field];

/**
 * Each target: what it is, how it is read (a number or undefined when the
 * scenario is missing), the limit and whether more or less is better.
 */
export const TARGETS = [
  { issue: 12, what: 'full_16 / full_noop_16 (rps ratio)', read: ({ scenarios: s }) => at(s, 'full_16', 'ratio_to_noop'), atLeast: 0.5 },
  { issue: 12, what: 'full_rate_1000 p99 ms (OPA-Envoy: 3.0)', read: ({ scenarios: s }) => at(s, 'full_rate_1000', 'p99_ms'), atMost: 3.0 },
  { issue: 12, what: 'full_rate_2000 p99 ms (OPA-Envoy: 5.4)', read: ({ scenarios: s }) => at(s, 'full_rate_2000', 'p99_ms'), atMost: 1.5 },
  { issue: 12, what: 'full_rate_5000 p99 ms (OPA-Envoy: 9.2)', read: ({ scenarios: s }) => at(s, 'full_rate_5000', 'p99_ms'), atMost: 3.0 },
  ...[['rebac', 5], ['policy', 15], ['budget', 3], ['audit', 10]].flatMap(([rung, limit]) => [
    { issue: 12, what: `+${rung} decision-thread µs (in process, decide-ladder)`, read: ({ rungs }) => at(rungs, rung, 'added_main_thread_cpu_us'), atMost: limit, difference: true },
    { issue: 12, what: `+${rung} decision-thread µs (socket ladder at 2 000/s)`, read: ({ scenarios: s }) => at(s, `ladder_${rung}`, 'main_thread_cpu_us_added'), atMost: limit, difference: true },
  ]),
  { issue: 12, what: 'grpc_check_16 / noop_http2_16', read: ({ scenarios: s }) => at(s, 'grpc_check_16', 'ratio_to_noop'), atLeast: 0.7 },
  { issue: 12, what: 'http_check_16 / noop_http_16', read: ({ scenarios: s }) => at(s, 'http_check_16', 'ratio_to_noop'), atLeast: 0.6 },
  { issue: 12, what: 'budget_redis_16 / budget_off_16', read: ({ scenarios: s }) => at(s, 'budget_redis_16', 'ratio_to_noop'), atLeast: 0.8 },
  { issue: 12, what: 'full_overload_shed p99.9 ms (deadline 50)', read: ({ scenarios: s }) => at(s, 'full_overload_shed', 'p999_ms'), atMost: 50 },
  { issue: 16, what: 'proxy_16 / proxy_bare_16', read: ({ scenarios: s }) => at(s, 'proxy_16', 'ratio_to_noop'), atLeast: 0.8 },
  {
    issue: 16,
    what: 'proxy_rate_2000 p99 − proxy_bare_rate_2000 p99 ms',
    read: ({ scenarios: s }) => {
      const mine = at(s, 'proxy_rate_2000', 'p99_ms');
      const bare = at(s, 'proxy_bare_rate_2000', 'p99_ms');
      return mine === undefined || bare === undefined ? undefined : Math.round((mine - bare) * 1000) / 1000;
    },
    atMost: 0.5,
  },
];

export function judge(lines) {
  return TARGETS.map((t) => {
    const value = t.read(lines);
    const limit = t.atLeast ?? t.atMost;
    // A stage cannot cost less than nothing: a negative difference between two rungs is the
    // host's noise exceeding the stage's cost, which says it is small, not that it is measured.
    const noise = t.difference === true && value !== undefined && value < 0;
    const met = value === undefined || noise ? undefined : t.atLeast !== undefined ? value >= t.atLeast : value <= t.atMost;
    return { issue: t.issue, target: t.what, limit: `${t.atLeast !== undefined ? '>=' : '<='} ${limit}`, value, met, noise };
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const files = process.argv.length > 2 ? process.argv.slice(2) : DEFAULT_FILES;
  const rows = judge(readBenchLines(files));
  console.log(`${'issue'.padEnd(6)}${'target'.padEnd(56)}${'limit'.padEnd(9)}${'measured'.padStart(9)}  met`);
  for (const r of rows) {
    const value = r.value === undefined ? 'not run' : String(r.value);
    const met = r.noise ? 'below the noise (< 0)' : r.met === undefined ? '-' : r.met ? 'yes' : 'NO';
    console.log(`${String(r.issue).padEnd(6)}${r.target.padEnd(56)}${r.limit.padEnd(9)}${value.padStart(9)}  ${met}`);
  }
}
