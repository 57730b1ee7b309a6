// A "remote OpenFGA" for the rebac stage's tests: the embedded engine's HTTP
// API (fga serve) on an ephemeral port, loaded with config/fga's model and
// tuples, behind a small node:http proxy that counts requests by endpoint and
// can be told to answer 500, hang, or be down.
import { createServer, request as httpRequest } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { OpenFgaClient } from '@openfga/sdk';
import { createDecisionContext } from '../../../src/decision/context.js';
import { runStages } from '../../../src/decision/engine.js';
import type { StageVerdict } from '../../../src/decision/engine.js';
import type { DecisionContext, Principal, Stage, StageResult } from '../../../src/decision/types.js';
import { createLogger } from '../../../src/observability/logger.js';
import { SidecarMetrics } from '../../../src/observability/metrics.js';
import { createRebacCapability } from '../../../src/rebac/index.js';
import type { RebacCapability } from '../../../src/rebac/index.js';
import { loadEmbeddedStore } from '../../../src/rebac/embedded/index.js';
import { startFgaApiServer } from '../../../src/rebac/fga-api/server.js';
import { authzRequest, principal, resource } from '../../support/principals.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const MODEL = path.join(REPO, 'config/fga/model.fga');
export const TUPLES = path.join(REPO, 'config/fga/tuples.yaml');
export const log = createLogger('silent');

export type ProxyMode = 'pass' | 'fail500' | 'hang';

export interface FgaFixture {
  /** The proxy's URL: what the sidecar is configured with. */
  apiUrl: string;
  /** The FGA server itself, bypassing the proxy (for writes in tests). */
  directUrl: string;
  storeId: string;
  admin: OpenFgaClient;
  mode: ProxyMode;
  /** Requests the proxy saw, by endpoint: check, batch-check, changes, authorization-models... */
  counts: Record<string, number>;
  count(endpoint: string): number;
  /** Stops the proxy: later connections are refused. */
  down(): Promise<void>;
}

export async function startFga(t: Test, opts: { latencyMs?: number } = {}): Promise<FgaFixture> {
  const source = loadEmbeddedStore({ modelPath: MODEL, tuplesPath: TUPLES, storeName: 'rebac-test' });
  const server = await startFgaApiServer({
    host: '127.0.0.1',
    port: 0,
    store: source.store,
    log,
    ...(opts.latencyMs !== undefined ? { latencyMs: opts.latencyMs } : {}),
  });
  t.teardown(() => server.close());
  const directUrl = `http://127.0.0.1:${server.port}`;
  const counts: Record<string, number> = {};
  const held: ServerResponse[] = [];
  const sockets = new Set<Socket>();
  const fixture = {
    mode: 'pass' as ProxyMode,
  };
  const proxy: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const endpoint = (req.url ?? '').split('?')[0]!.split('/').pop() ?? '';
    counts[endpoint] = (counts[endpoint] ?? 0) + 1;
    if (fixture.mode === 'hang' && endpoint !== 'changes') {
      held.push(res);
      req.resume();
      return;
    }
    if (fixture.mode === 'fail500') {
      req.resume();
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ code: 'internal_error', message: 'injected failure' }));
      return;
    }
    const up = httpRequest(
      { host: '127.0.0.1', port: server.port, method: req.method, path: req.url, headers: req.headers },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
  proxy.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const port = (proxy.address() as { port: number }).port;
  let closed = false;
  const down = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    for (const r of held) r.destroy();
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => proxy.close(() => resolve()));
  };
  t.teardown(down);
  return Object.assign(fixture, {
    apiUrl: `http://127.0.0.1:${port}`,
    directUrl,
    storeId: source.store.id,
    admin: new OpenFgaClient({ apiUrl: directUrl, storeId: source.store.id }),
    counts,
    count: (endpoint: string) => counts[endpoint] ?? 0,
    down,
  });
}

export interface Built {
  cap: RebacCapability;
  metrics: SidecarMetrics;
  stage(options: unknown, resourceType?: string): Stage;
}

export async function buildRemote(t: Test, fga: FgaFixture, remote: Record<string, unknown> = {}): Promise<Built> {
  const metrics = new SidecarMetrics({ defaultMetrics: false });
  const cap = createRebacCapability(
    { mode: 'remote', remote: { api_url: fga.apiUrl, store_id: fga.storeId, timeout_ms: 2000, ...remote } },
    { log, metrics, baseDir: REPO, env: {} },
  );
  t.teardown(() => cap.close());
  await cap.ready();
  return { cap, metrics, stage: stageMaker(cap) };
}

export function buildEmbedded(t: Test, section: Record<string, unknown> = {}): Built {
  const metrics = new SidecarMetrics({ defaultMetrics: false });
  const cap = createRebacCapability(
    { mode: 'embedded', embedded: { model: 'config/fga/model.fga', tuples: 'config/fga/tuples.yaml', watch_ms: 0 }, ...section },
    { log, metrics, baseDir: REPO, env: {} },
  );
  t.teardown(() => cap.close());
  return { cap, metrics, stage: stageMaker(cap) };
}

function stageMaker(cap: RebacCapability) {
  return (options: unknown, resourceType = 'project'): Stage =>
    cap.stageFactory.create(options, { route: 'r', resourceType, action: 'deploy' });
}

export interface Who {
  user?: string;
  kind?: Principal['kind'];
  project?: string;
  tenant?: string;
  deadlineMs?: number;
  /** Verified token claims of the principal. */
  claims?: Record<string, unknown>;
}

export function ctxFor(who: Who = {}): DecisionContext {
  const tenant = who.tenant ?? 'acme';
  const project = who.project ?? 'acme-web';
  return createDecisionContext({
    decisionId: 'd-1',
    principal: principal({ id: who.user ?? 'alice', kind: who.kind ?? 'user', tenant, claims: who.claims ?? {} }),
    action: 'deploy',
    resource: resource({ type: 'project', id: project, tenant }),
    route: 'r',
    routeParams: { tenant, project },
    deadline: performance.now() + (who.deadlineMs ?? 1000),
  });
}

export function isPromise(v: unknown): v is Promise<unknown> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

/** Runs one stage as the engine does and returns its verdict. */
export async function decide(stage: Stage, who: Who = {}): Promise<StageVerdict> {
  return runStages([stage], authzRequest(), ctxFor(who), { allowWhenAllAbstain: false });
}

/** The stage's raw result, awaited. */
export async function evaluate(stage: Stage, who: Who = {}): Promise<StageResult> {
  return stage.evaluate(authzRequest(), ctxFor(who));
}

/** Polls `cond` every 20 ms until it holds; fails after `limitMs` (a bound, not a timing assertion). */
export async function eventually(t: Test, what: string, cond: () => Promise<boolean> | boolean, limitMs = 10_000): Promise<void> {
  const until = Date.now() + limitMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > until) {
      t.fail(`${what}: not within ${limitMs} ms`);
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function metricValue(metrics: SidecarMetrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = metrics.registry.getSingleMetric(name);
  if (m === undefined) return 0;
  const data = await m.get();
  let sum = 0;
  for (const v of data.values) {
    const l = v.labels as Record<string, string | number>;
    if (Object.entries(labels).every(([k, want]) => String(l[k]) === want) && !('le' in l)) sum += v.value;
  }
  return sum;
}

/** What `fn` throws synchronously (undefined if it returns). */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}
