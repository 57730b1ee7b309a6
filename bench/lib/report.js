// One JSON line per scenario, to stdout and to bench/out/latest.jsonl, and a
// human summary on stderr at the end. `ratio_to_noop` is the scenario's
// throughput over its no-op baseline's from the same run: the fraction of
// what Node itself manages on this machine that the sidecar keeps.
import { mkdirSync, writeFileSync, appendFileSync } from 'node:fs';
import path from 'node:path';

const round = (x, digits) => (x === null || x === undefined || Number.isNaN(x) ? null : Number(x.toFixed(digits)));

export class Report {
  constructor(outDir) {
    mkdirSync(outDir, { recursive: true });
    this.file = path.join(outDir, 'latest.jsonl');
    writeFileSync(this.file, '');
    this.lines = new Map();
  }

  /** Records a scenario's result; returns the line written. */
  add(scenario, result, extra = {}) {
    const baseline = scenario.baseline ?? scenario.name;
    const base = this.lines.get(baseline);
    const ratio = baseline === scenario.name ? 1 : base ? result.rps / base.rps : null;
    const line = {
      scenario: scenario.name,
      target: scenario.target,
      rps: round(result.rps, 1),
      p50_ms: round(result.p50_ms, 3),
      p99_ms: round(result.p99_ms, 3),
      p999_ms: round(result.p999_ms, 3),
      errors: result.errors,
      baseline,
      ratio_to_noop: round(ratio, 3),
      requests: result.requests,
      ...extra,
    };
    this.lines.set(scenario.name, line);
    const text = JSON.stringify(line);
    process.stdout.write(`${text}\n`);
    appendFileSync(this.file, `${text}\n`);
    return line;
  }

  /** A fixed-width table for people, on stderr so stdout stays JSON lines. */
  summary() {
    const rows = [['scenario', 'rps', 'p50 ms', 'p99 ms', 'p99.9 ms', 'errors', 'cpu µs/dec', 'ratio']];
    for (const l of this.lines.values()) {
      rows.push([l.scenario, String(l.rps), String(l.p50_ms), String(l.p99_ms), String(l.p999_ms), String(l.errors),
        String(l.cpu_us_per_decision ?? '-'), l.ratio_to_noop === null ? '-' : `${l.ratio_to_noop} × ${l.baseline}`]);
    }
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')).join('\n');
  }

  /** The ladder's lines (those with cpu_us_added): what each rung adds, in sidecar CPU µs per decision. */
  ladder() {
    const rungs = [...this.lines.values()].filter((l) => l.cpu_us_added !== undefined);
    if (rungs.length === 0) return '';
    const rows = rungs.map((l) => `  ${l.scenario.padEnd(20)} ${String(l.cpu_us_per_decision).padStart(7)} µs/decision  ` +
      `${(l.cpu_us_added >= 0 ? '+' : '') + l.cpu_us_added} µs over ${l.baseline} (main thread ${(l.main_thread_cpu_us_added >= 0 ? '+' : '') + l.main_thread_cpu_us_added})`);
    return `ladder (sidecar CPU per decision; each rung adds one stage):\n${rows.join('\n')}`;
  }
}
