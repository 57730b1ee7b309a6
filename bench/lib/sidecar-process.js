// The sidecar under test: `node bin/authz-sidecar.js serve --config F` in its
// own process, on free loopback ports passed as AUTHZ__SERVER__*__PORT
// environment overrides, considered started once the admin /readyz says so.
import { setTimeout } from 'node:timers';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { spawnServer, untilReady } from './child-process.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const SIDECAR_BIN = fileURLToPath(new URL('../../bin/authz-sidecar.js', import.meta.url));
const READY_TIMEOUT_MS = 30_000;

/** Free TCP ports on 127.0.0.1, held open together so they are distinct. */
export async function freePorts(count) {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => s.address().port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/**
 * Starts the sidecar; resolves { ports: {grpc, http, admin}, pid, stop(), decisionCounts() }.
 * `cpuProfDir`: run under `node --cpu-prof` and write the profile there on stop.
 * `bin`: another build's bin/authz-sidecar.js, to compare two builds.
 */
export async function startSidecar({ config, env = {}, cpuProfDir, bin = SIDECAR_BIN } = {}) {
  const [grpc, http, admin] = await freePorts(3);
  const nodeArgs = [
    ...(cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : []),
    // Diagnostics (bench/README.md): more node flags for the sidecar, e.g. --trace-gc.
    ...(process.env.BENCH_SIDECAR_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
  ];
  const server = spawnServer(process.execPath, [...nodeArgs, bin, 'serve', '--config', config], {
    cwd: REPO,
    env: {
      AUTHZ__SERVER__GRPC__PORT: String(grpc),
      AUTHZ__SERVER__HTTP__PORT: String(http),
      AUTHZ__SERVER__ADMIN__PORT: String(admin),
      ...env,
    },
  });
  await untilReady(server, waitReady(admin), `sidecar (${config})`);
  return {
    ports: { grpc, http, admin },
    pid: server.child.pid,
    stop: () => server.stop(),
    logTail: () => server.stderrTail(),
    decisionCounts: () => decisionCounts(admin),
  };
}

async function waitReady(adminPort) {
  const until = Date.now() + READY_TIMEOUT_MS;
  let last = 'no answer';
  while (Date.now() < until) {
    try {
      const res = await fetch(`http://127.0.0.1:${adminPort}/readyz`, { signal: AbortSignal.timeout(1000) });
      last = `${res.status} ${await res.text()}`;
      if (res.status === 200) return;
    } catch (err) {
      last = err.cause?.code ?? err.message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`sidecar not ready after ${READY_TIMEOUT_MS} ms (last /readyz: ${last})`);
}

/**
 * authz_decisions_total summed by result, from the admin /metrics: the
 * load generators only see HTTP status, and a gRPC deny is an HTTP 200.
 */
export async function decisionCounts(adminPort) {
  const res = await fetch(`http://127.0.0.1:${adminPort}/metrics`, { signal: AbortSignal.timeout(2000) });
  const text = await res.text();
  const counts = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith('authz_decisions_total{')) continue;
    const result = /result="([^"]*)"/.exec(line)?.[1] ?? 'unknown';
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    counts[result] = (counts[result] ?? 0) + value;
  }
  return counts;
}
