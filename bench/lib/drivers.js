// Load drivers and correctness probes. Every scenario is one of two shapes:
//  - grpc: h2load, one HTTP/2 connection, N concurrent streams, POSTing a
//    gRPC-framed CheckRequest; percentiles come from h2load's per-request
//    --log-file (h2load itself prints only min/max/mean/sd).
//  - http: wrk, N connections, GET with the request's headers; percentiles
//    from a Lua done() hook (bench/lib/wrk-report.lua).
// Both report { rps, p50_ms, p99_ms, p999_ms, errors, requests, ... } for the
// measured phase only, after a warm-up the figures exclude.
import { clearTimeout, setTimeout } from 'node:timers';
import http from 'node:http';
import http2 from 'node:http2';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runTool } from './tools.js';
import { authzTypes, grpcUnframe } from './proto.js';
import { CHECK_PATH } from './requests.js';

const WRK_SCRIPT = fileURLToPath(new URL('./wrk-report.lua', import.meta.url));
const PROBE_TIMEOUT_MS = 5000;
/** A generator gets this long beyond its own duration before it is killed. */
const GENERATOR_GRACE_MS = 15_000;

// ---------------------------------------------------------------- probes

/**
 * Sends one CheckRequest and says whether it was allowed: gRPC status 0 in the
 * trailers and a CheckResponse whose status.code is 0 with an ok_response.
 * Resolves { allowed, detail }.
 */
export function probeGrpc(port, body) {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const fail = (err) => {
      session.destroy();
      reject(err);
    };
    const timer = setTimeout(() => fail(new Error(`gRPC probe on :${port} timed out`)), PROBE_TIMEOUT_MS);
    session.on('error', fail);
    const req = session.request({
      ':method': 'POST', ':path': CHECK_PATH, 'content-type': 'application/grpc', te: 'trailers',
    });
    let headers = {};
    let trailers = {};
    const chunks = [];
    req.on('response', (h) => (headers = h));
    req.on('trailers', (t) => (trailers = t));
    req.on('data', (c) => chunks.push(c));
    req.on('error', fail);
    req.on('end', () => {
      clearTimeout(timer);
      session.close();
      // A trailers-only error response carries grpc-status in the headers.
      const grpcStatus = trailers['grpc-status'] ?? headers['grpc-status'];
      const grpcMessage = trailers['grpc-message'] ?? headers['grpc-message'];
      if (headers[':status'] !== 200 || grpcStatus !== '0') {
        resolve({ allowed: false, detail: `HTTP ${headers[':status']}, grpc-status ${grpcStatus} ${grpcMessage ?? ''}`.trim() });
        return;
      }
      let response;
      try {
        response = authzTypes().CheckResponse.decode(grpcUnframe(Buffer.concat(chunks))).toJSON();
      } catch (err) {
        resolve({ allowed: false, detail: `undecodable CheckResponse: ${err.message}` });
        return;
      }
      const code = response.status?.code ?? 0;
      const allowed = code === 0 && response.okResponse !== undefined;
      resolve({ allowed, detail: JSON.stringify(response) });
    });
    req.end(body);
  });
}

/** Sends one HTTP ext_authz request; allowed means 200. Resolves { allowed, detail }. */
export function probeHttp(port, path, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'GET', headers, timeout: PROBE_TIMEOUT_MS }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d) => (text += d));
      res.on('end', () => resolve({ allowed: res.statusCode === 200, detail: `HTTP ${res.statusCode} ${text}`.trim() }));
    });
    req.on('timeout', () => req.destroy(new Error(`HTTP probe on :${port} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

// ---------------------------------------------------------------- h2load

/**
 * h2load against a gRPC server. `bodyFile` holds the framed CheckRequest;
 * `logFile` is scratch space for per-request latencies (removed afterwards).
 *
 * Closed loop by default: `clients` connections (1) × `streams` concurrent
 * streams each, every stream sending its next request as soon as the last
 * is answered. With `rate` (requests/s in all) it is a fixed-rate load
 * instead: `h2load --rps rate/clients` per connection, `streams` only
 * bounding what may be in flight. A server that keeps up answers `rate`/s;
 * one that does not falls behind (rps below `rate`) and its latency shows
 * only the requests h2load managed to send (h2load waits for a free stream,
 * it does not queue: read p99 together with rps).
 */
export async function runH2load({ port, bodyFile, streams, clients = 1, rate, durationS, warmupS, logFile }) {
  if (rate !== undefined && !(rate > 0)) throw new Error(`h2load: rate must be > 0 requests/s, got ${rate}`);
  const args = [
    '-c', String(clients), '-t', '1', '-m', String(streams),
    ...(rate === undefined ? [] : [`--rps=${Math.max(1, Math.round(rate / clients))}`]),
    '-D', String(durationS), `--warm-up-time=${warmupS}`,
    '-d', bodyFile,
    '-H', 'content-type: application/grpc',
    '-H', 'te: trailers',
    `--log-file=${logFile}`,
    `http://127.0.0.1:${port}${CHECK_PATH}`,
  ];
  const { stdout } = await runTool('h2load', args, { timeoutMs: (durationS + warmupS) * 1000 + GENERATOR_GRACE_MS });
  const summary = parseH2loadSummary(stdout);
  const latenciesUs = readH2loadLog(logFile);
  // Diagnostics (bench/README.md): the last h2load run's per-request log.
  if (process.env.BENCH_KEEP_H2LOG) writeFileSync(process.env.BENCH_KEEP_H2LOG, readFileSync(logFile));
  rmSync(logFile, { force: true });
  const p = percentilesMs(latenciesUs.completed);
  return {
    rps: latenciesUs.completed.length / durationS,
    ...p,
    // Streams cut off when the duration ends are logged with status 0; they
    // are neither successes nor errors.
    errors: summary.failed + summary.errored + summary.timeout + summary.non2xx,
    requests: latenciesUs.completed.length,
    generator: { tool: 'h2load', reported_rps: summary.rps, ...(rate === undefined ? {} : { target_rps: rate, clients }), ...summary },
  };
}

/** The lines of h2load's summary we rely on; throws if they are missing. */
export function parseH2loadSummary(text) {
  const finished = /finished in [\d.]+\w*, ([\d.]+) req\/s/.exec(text);
  const requests = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(text);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(text);
  if (!finished || !requests || !codes) throw new Error(`unexpected h2load output:\n${text}`);
  const n = (m, i) => Number(m[i]);
  return {
    rps: Number(finished[1]),
    total: n(requests, 1), succeeded: n(requests, 4), failed: n(requests, 5), errored: n(requests, 6), timeout: n(requests, 7),
    status2xx: n(codes, 1), non2xx: n(codes, 2) + n(codes, 3) + n(codes, 4),
  };
}

/** h2load --log-file rows: start µs since epoch, HTTP status (-1 failed, 0 cut off), elapsed µs. */
export function readH2loadLog(file) {
  const completed = [];
  let failed = 0;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line === '') continue;
    const [, status, elapsed] = line.split('\t');
    const code = Number(status);
    if (code > 0) completed.push(Number(elapsed));
    else if (code < 0) failed++;
  }
  return { completed, failed };
}

// ---------------------------------------------------------------- wrk

/** wrk against an HTTP server: a discarded warm-up run, then the measured one. */
export async function runWrk({ port, path, headers, connections, threads, durationS, warmupS }) {
  const url = `http://127.0.0.1:${port}${path}`;
  const headerArgs = Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
  const base = ['-c', String(connections), '-t', String(threads), '--latency', '-s', WRK_SCRIPT, ...headerArgs];
  if (warmupS > 0) {
    await runTool('wrk', [...base, '-d', `${warmupS}s`, url], { timeoutMs: warmupS * 1000 + GENERATOR_GRACE_MS });
  }
  const { stdout } = await runTool('wrk', [...base, '-d', `${durationS}s`, url], {
    timeoutMs: durationS * 1000 + GENERATOR_GRACE_MS,
  });
  const r = parseWrkReport(stdout);
  return {
    rps: r.requests / (r.duration_us / 1e6),
    p50_ms: r.p50_us / 1000,
    p99_ms: r.p99_us / 1000,
    p999_ms: r.p999_us / 1000,
    errors: r.status_errors + r.connect_errors + r.read_errors + r.write_errors + r.timeouts,
    requests: r.requests,
    generator: { tool: 'wrk', ...r },
  };
}

export function parseWrkReport(text) {
  const line = text.split('\n').find((l) => l.startsWith('WRK_JSON '));
  if (line === undefined) throw new Error(`wrk printed no WRK_JSON line (is bench/lib/wrk-report.lua loaded?):\n${text}`);
  return JSON.parse(line.slice('WRK_JSON '.length));
}

// ---------------------------------------------------------------- stats

/** Nearest-rank percentiles of microsecond samples, in milliseconds. */
export function percentilesMs(samplesUs) {
  if (samplesUs.length === 0) return { p50_ms: null, p99_ms: null, p999_ms: null };
  const sorted = Float64Array.from(samplesUs).sort();
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] / 1000;
  return { p50_ms: at(0.5), p99_ms: at(0.99), p999_ms: at(0.999) };
}
