// N concurrent requests that all differ: one h2load per request body, each
// on its own connection with one stream at a time, run side by side and
// merged into one result.
//
// Why not one h2load with N streams: h2load posts the same body on every
// stream, so N concurrent requests are N identical checks, and the rebac
// remote checker coalesces identical in-flight checks into one upstream call.
// That measures coalescing, not N independent cache misses. With one body per
// h2load and one stream each, no two in-flight checks are ever the same.
import path from 'node:path';
import { rmSync } from 'node:fs';
import { parseH2loadSummary, percentilesMs, readH2loadLog } from './drivers.js';
import { CHECK_PATH } from './requests.js';
import { runTool } from './tools.js';

const GENERATOR_GRACE_MS = 15_000;

/** Same result shape as runH2load; `bodyFiles` (one per concurrent request) are gRPC-framed CheckRequests. */
export async function runH2loadFanout({ port, bodyFiles, durationS, warmupS, logDir, name }) {
  const runs = bodyFiles.map(async (bodyFile, i) => {
    const logFile = path.join(logDir, `${name}.${i}.h2load.log`);
    const args = [
      '-c', '1', '-t', '1', '-m', '1',
      '-D', String(durationS), `--warm-up-time=${warmupS}`,
      '-d', bodyFile,
      '-H', 'content-type: application/grpc',
      '-H', 'te: trailers',
      `--log-file=${logFile}`,
      `http://127.0.0.1:${port}${CHECK_PATH}`,
    ];
    const { stdout } = await runTool('h2load', args, { timeoutMs: (durationS + warmupS) * 1000 + GENERATOR_GRACE_MS });
    const summary = parseH2loadSummary(stdout);
    const { completed } = readH2loadLog(logFile);
    rmSync(logFile, { force: true });
    return { summary, completed };
  });
  const parts = await Promise.all(runs);
  const completed = parts.flatMap((p) => p.completed);
  const sum = (k) => parts.reduce((s, p) => s + p.summary[k], 0);
  return {
    rps: completed.length / durationS,
    ...percentilesMs(completed),
    errors: sum('failed') + sum('errored') + sum('timeout') + sum('non2xx'),
    requests: completed.length,
    generator: { tool: 'h2load', processes: parts.length, reported_rps: sum('rps') },
  };
}
