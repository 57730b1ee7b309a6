// A real upstream (node:http, counting its connections) behind a real
// sidecar in proxy mode, for the inline-proxy tests.
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Test } from 'tap';
import { WebSocketServer } from 'ws';
import { PROJECT_ROUTES, startTestSidecar, type TestSidecar } from '../../support/sidecar.js';

export interface Upstream {
  readonly port: number;
  /** TCP connections the upstream has accepted so far. */
  connections(): number;
  /** Headers of every request the upstream received, in order. */
  readonly seen: Array<{ url: string; headers: IncomingHttpHeaders }>;
  /** Requests whose response the client side closed before it finished. */
  aborted(): number;
  handle(path: string, fn: (req: IncomingMessage, res: ServerResponse) => void): void;
}

export async function startUpstream(t: Test): Promise<Upstream> {
  const handlers = new Map<string, (req: IncomingMessage, res: ServerResponse) => void>();
  const seen: Upstream['seen'] = [];
  let connections = 0;
  let aborted = 0;
  const server = createServer((req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    res.once('close', () => {
      if (!res.writableFinished) aborted++;
    });
    const path = (req.url ?? '/').split('?')[0]!;
    const handler = [...handlers.entries()].find(([prefix]) => path.startsWith(prefix))?.[1];
    if (handler) return handler(req, res);
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`upstream saw ${req.method} ${req.url}`);
  });
  server.keepAliveTimeout = 10_000;
  server.on('connection', () => connections++);
  const wss = new WebSocketServer({ server, path: '/up/ws' });
  wss.on('connection', (ws, req) => {
    ws.send(`hello ${req.headers['x-authz-principal'] ?? 'anonymous'}`);
    ws.on('message', (data) => ws.send(`echo ${String(data)}`));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(async () => {
    for (const c of wss.clients) c.terminate();
    wss.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    aborted: () => aborted,
    seen,
    handle: (path, fn) => handlers.set(path, fn),
  };
}

/** Anonymous routes under /up/ (any method), plus the project routes (tenant + rbac). */
export const PROXY_ROUTES = [
  { name: 'up', match: { method: '*', path: '/up/*' }, action: 'read',
    resource: { type: 'health', id: 'h', tenant: 'public' }, anonymous: true, stages: [] },
  ...PROJECT_ROUTES,
];

export async function startProxySidecar(t: Test, upstream: Upstream, proxy: Record<string, unknown> = {}): Promise<TestSidecar> {
  return startTestSidecar(t, {
    server: { grpc: { enabled: false }, http: { enabled: false }, admin: { host: '127.0.0.1', port: 0 },
      proxy: { enabled: true, host: '127.0.0.1', port: 0, upstream: `http://127.0.0.1:${upstream.port}`, ...proxy } },
    routes: PROXY_ROUTES,
  });
}

/** Polls `check` until it holds (events, not durations: the bound is only a guard). */
export async function eventually(check: () => boolean, what: string, boundMs = 10_000): Promise<void> {
  const until = Date.now() + boundMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export async function metricValue(s: TestSidecar, name: string, labels: Record<string, string>): Promise<number> {
  const text = await s.sidecar.metrics.registry.metrics();
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (want.every((w) => line.includes(w))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}
