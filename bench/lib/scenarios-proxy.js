// Issue 16's bench scenarios: the inline proxy (server.proxy) in front of a
// no-op upstream, against bare keep-alive proxies with no authorization and
// against the upstream hit directly, each target with its own upstream.
//
//   proxy_direct_16          wrk -c16 straight at the no-op upstream (the ceiling)
//   proxy_bare_16            a bare undici Pool proxy (bench/lib/bare-proxies.js), no authorization
//   proxy_16                 the sidecar's proxy, route read-project [tenant, rbac]; compared with proxy_bare_16
//   proxy_bare_httpproxy_16  http-proxy with a keep-alive agent (opt-in: the library not chosen, for the record)
//   proxy_bare_rate_2000     fixed 2,000 requests/s over 4 connections (h2load --h1 --rps), bare undici proxy
//   proxy_rate_2000          the same through the sidecar; compared with proxy_bare_rate_2000 (p99 gap)
//
// proxy_bare_16 and proxy_16 run by default; the rest with `--only proxy`.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { rmSync } from 'node:fs';
import { parseH2loadSummary, percentilesMs, readH2loadLog } from './drivers.js';
import { startBareProxy } from './bare-proxies.js';
import { startNoopServer } from './noop-servers.js';
import { freePorts, startSidecar } from './sidecar-process.js';
import { runTool } from './tools.js';

const CONFIG = fileURLToPath(new URL('../config/bench.yaml', import.meta.url));

/** A no-op upstream of the target's own, stopped with it. */
async function withUpstream(start) {
  const upstream = await startNoopServer('http');
  try {
    const target = await start(`http://127.0.0.1:${upstream.port}`);
    return { ...target, stop: async () => { await target.stop(); await upstream.stop(); } };
  } catch (err) {
    await upstream.stop();
    throw err;
  }
}

export const PROXY_TARGETS = {
  proxy_upstream: {
    start: async () => { const s = await startNoopServer('http'); return { ...s, ports: { http: s.port } }; },
  },
  proxy_bare_undici: {
    start: () => withUpstream(async (url) => { const p = await startBareProxy('undici', url); return { ...p, ports: { http: p.port } }; }),
  },
  proxy_bare_httpproxy: {
    start: () => withUpstream(async (url) => { const p = await startBareProxy('http-proxy', url); return { ...p, ports: { http: p.port } }; }),
  },
  proxy_sidecar: {
    start: (ctx) => withUpstream(async (url) => {
      const [proxyPort] = await freePorts(1);
      const s = await startSidecar({
        config: CONFIG, cpuProfDir: ctx.cpuProfDir, bin: ctx.sidecarBin,
        env: { AUTHZ__SERVER__PROXY__ENABLED: 'true', AUTHZ__SERVER__PROXY__HOST: '127.0.0.1',
          AUTHZ__SERVER__PROXY__PORT: String(proxyPort), AUTHZ__SERVER__PROXY__UPSTREAM: url },
      });
      // The http driver and probe hit `ports.http`: here, the proxy port.
      return { ...s, ports: { ...s.ports, http: proxyPort } };
    }),
  },
};

/** h2load over HTTP/1.1 at a fixed total rate: `clients` connections × rps/clients each. */
async function runFixedRateHttp({ server, fixtures, scenario, durationS, warmupS, outDir }) {
  const clients = scenario.concurrency;
  const logFile = path.join(outDir, `${scenario.name}.h2load.log`);
  const headers = Object.entries(fixtures.httpHeaders).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
  const args = ['--h1', '-c', String(clients), '-t', '1', `--rps=${scenario.rps / clients}`,
    '-D', String(durationS), `--warm-up-time=${warmupS}`, ...headers, `--log-file=${logFile}`,
    `http://127.0.0.1:${server.ports.http}${scenario.request.path}`];
  const { stdout } = await runTool('h2load', args, { timeoutMs: (durationS + warmupS) * 1000 + 15_000 });
  const summary = parseH2loadSummary(stdout);
  const log = readH2loadLog(logFile);
  rmSync(logFile, { force: true });
  return {
    rps: log.completed.length / durationS,
    ...percentilesMs(log.completed),
    errors: summary.failed + summary.errored + summary.timeout + summary.non2xx,
    requests: log.completed.length,
    generator: { tool: 'h2load --h1 --rps', target_rps: scenario.rps, ...summary },
  };
}

/** `request` is bench/run.js's READ_PROJECT: the proxied path the sidecar authorizes. */
export function proxyScenarios(request) {
  const http16 = { driver: 'http', concurrency: 16, request };
  const rate = { driver: 'http', concurrency: 4, rps: 2000, request, run: runFixedRateHttp };
  return [
    { name: 'proxy_direct_16', target: 'proxy_upstream', ...http16, optIn: true },
    { name: 'proxy_bare_httpproxy_16', target: 'proxy_bare_httpproxy', ...http16, baseline: 'proxy_bare_16', optIn: true },
    { name: 'proxy_bare_16', target: 'proxy_bare_undici', ...http16, baseline: 'proxy_direct_16' },
    { name: 'proxy_16', target: 'proxy_sidecar', ...http16, baseline: 'proxy_bare_16' },
    { name: 'proxy_bare_rate_2000', target: 'proxy_bare_undici', ...rate, optIn: true },
    { name: 'proxy_rate_2000', target: 'proxy_sidecar', ...rate, baseline: 'proxy_bare_rate_2000', optIn: true },
  ];
}
