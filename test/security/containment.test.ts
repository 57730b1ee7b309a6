// Issue 9: an unexpected exception while answering one request is that
// request's deny — 503 internal_error — counted in authz_internal_errors_total
// and logged once per kind; the server keeps serving. Each transport's real
// server, with a decide() that hands it a Decision it cannot write.
import t from 'tap';
import { PassThrough } from 'node:stream';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { sidecarConfigSchema } from '../../src/config/schema.js';
import type { Decision } from '../../src/decision/types.js';
import { createLogger } from '../../src/observability/logger.js';
import { SidecarMetrics } from '../../src/observability/metrics.js';
import { startHttpAuthzServer } from '../../src/transport/http/server.js';
import { startProxyServer } from '../../src/transport/proxy/server.js';
import { startGrpcServer } from '../../src/transport/grpc/server.js';
import { AuthzClient, envoyCheckRequest } from '../support/grpc-client.js';
import { allowDecision } from '../support/grpc-server.js';

/** A logger whose lines the test can read back. */
function capturedLog(): { log: ReturnType<typeof createLogger>; lines: () => Array<Record<string, unknown>> } {
  const out = new PassThrough();
  const chunks: string[] = [];
  out.on('data', (c: Buffer) => chunks.push(c.toString()));
  return {
    log: createLogger('info', out),
    lines: () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** The proxy section as the config schema fills it in, on an ephemeral loopback port. */
function proxyConfig(upstream: string) {
  const cfg = sidecarConfigSchema.parse({ server: { proxy: { enabled: true, host: '127.0.0.1', port: 0, upstream } } });
  return { ...cfg.server.proxy, upstream };
}

/** A header name Node refuses (a space): writeHead throws ERR_INVALID_HTTP_TOKEN. */
const unwritable = (): Decision => allowDecision({ 'bad name': 'x' });

async function internalErrors(metrics: SidecarMetrics, transport: string): Promise<number> {
  const text = await metrics.registry.metrics();
  let n = 0;
  for (const m of text.matchAll(/^authz_internal_errors_total\{([^}]*)\} (\d+)$/gm)) {
    if (m[1]!.includes(`transport="${transport}"`)) n += Number(m[2]);
  }
  return n;
}

const waitFor = async (what: string, cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
};

t.test('HTTP ext_authz: an answer that cannot be written is a 503 internal_error, counted, logged once', async (t) => {
  const metrics = new SidecarMetrics({ defaultMetrics: false });
  const { log, lines } = capturedLog();
  let mode: 'sync' | 'async' | 'ok' = 'sync';
  const server = await startHttpAuthzServer({ host: '127.0.0.1', port: 0, log, metrics,
    decide: () => (mode === 'ok' ? allowDecision() : mode === 'sync' ? unwritable() : Promise.resolve(unwritable())) });
  t.teardown(() => server.close());
  for (let i = 0; i < 3; i++) {
    const res = await request(`http://127.0.0.1:${server.port}/x`);
    t.equal(res.statusCode, 503);
    t.match(await res.body.json(), { reason: 'internal_error' });
  }
  mode = 'async'; // an async decision takes the same road
  const later = await request(`http://127.0.0.1:${server.port}/x`);
  t.equal(later.statusCode, 503);
  await later.body.dump();
  t.equal(await internalErrors(metrics, 'http'), 4, 'every one counted');
  const logged = lines().filter((l) => String(l.msg).includes('logged once per kind'));
  t.equal(logged.length, 1, 'one log line for one kind');
  t.equal(logged[0]?.kind, 'ERR_INVALID_HTTP_TOKEN');
  mode = 'ok';
  const ok = await request(`http://127.0.0.1:${server.port}/x`);
  t.equal(ok.statusCode, 200, 'still serving');
  await ok.body.dump();
});

t.test('inline proxy: a decide() that throws or rejects is a 503 internal_error; nothing reaches the upstream', async (t) => {
  let reached = 0;
  const upstream = createServer((_req, res) => {
    reached++;
    res.end('ok');
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  t.teardown(() => upstream.close());
  const metrics = new SidecarMetrics({ defaultMetrics: false });
  const { log } = capturedLog();
  let mode: 'throw' | 'reject' | 'unwritable' | 'ok' = 'throw';
  const proxy = await startProxyServer({ config: proxyConfig(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`),
    log, metrics, decide: () => {
      if (mode === 'throw') throw new TypeError('boom');
      if (mode === 'reject') return Promise.reject(new RangeError('later boom'));
      return mode === 'unwritable' ? unwritable() : allowDecision();
    } });
  t.teardown(() => proxy.close());
  for (const m of ['throw', 'reject'] as const) {
    mode = m;
    const res = await request(`http://127.0.0.1:${proxy.port}/x`);
    t.equal(res.statusCode, 503, `${m}: 503`);
    t.match(await res.body.json(), { reason: 'internal_error' });
  }
  t.equal(await internalErrors(metrics, 'proxy'), 2, 'both counted');
  mode = 'unwritable';
  const bad = await request(`http://127.0.0.1:${proxy.port}/x`);
  t.not(bad.statusCode, 200, 'a header the upstream request cannot carry is not forwarded');
  await bad.body.dump();
  t.equal(reached, 0);
  mode = 'ok';
  const ok = await request(`http://127.0.0.1:${proxy.port}/x`);
  t.equal(ok.statusCode, 200, 'still serving');
  await ok.body.dump();
  t.equal(reached, 1);
});

t.test('gRPC: a Decision that cannot be encoded is a CheckResponse deny 503 internal_error', async (t) => {
  const metrics = new SidecarMetrics({ defaultMetrics: false });
  const { log, lines } = capturedLog();
  let mode: 'unencodable' | 'throw' | 'ok' = 'unencodable';
  const server = await startGrpcServer({ host: '127.0.0.1', port: 0, log, metrics, isServing: () => true,
    decide: () => {
      if (mode === 'throw') throw new RangeError('stage bug');
      // A header value that is not a string: the writer cannot measure it.
      return mode === 'ok' ? allowDecision() : allowDecision({ 'x-count': 5 as unknown as string });
    } });
  t.teardown(() => server.close());
  const client = new AuthzClient(server.port);
  t.teardown(() => client.close());
  for (const m of ['unencodable', 'throw'] as const) {
    mode = m;
    const res = await client.check(envoyCheckRequest());
    t.equal(res.error, undefined, `${m}: the call succeeds`);
    t.equal(res.response?.status?.code, 14, `${m}: UNAVAILABLE deny`);
    t.equal(res.response?.deniedResponse?.status?.code, 503);
    t.match(JSON.parse(res.response?.deniedResponse?.body ?? '{}'), { reason: 'internal_error' });
  }
  t.equal(await internalErrors(metrics, 'grpc'), 2);
  await waitFor('two log lines', () => lines().filter((l) => String(l.msg).includes('logged once')).length === 2);
  mode = 'ok';
  const ok = await client.check(envoyCheckRequest());
  t.equal(ok.response?.status?.code ?? 0, 0, 'still serving');
});
