// `authz-sidecar fga serve`: the embedded engine behind OpenFGA's HTTP API,
// so @openfga/sdk (and the sidecar's remote mode) can talk to it as to a real
// OpenFGA server. node:http only; every request is answered, bad input with
// OpenFGA's {code, message} error body.
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { FgaCheckError } from '../model/errors.js';
import { EmbeddedStore } from '../embedded/store.js';
import { StoreRegistry } from '../embedded/registry.js';
import { FgaApi } from './handlers.js';
import type { ApiResult } from './handlers.js';
import { readJsonBody, sendError, sendJson } from './http-util.js';

export interface FgaApiServerOptions {
  host: string;
  port: number;
  /** A store (or a registry of stores) to serve; an empty registry when omitted. */
  store?: EmbeddedStore | StoreRegistry;
  log: Logger;
  /** Delay added before every response (benches, timeout tests). */
  latencyMs?: number;
  /** When set, requests must carry `Authorization: Bearer <apiToken>` (OpenFGA preshared key). */
  apiToken?: string;
}

export interface FgaApiServer {
  port: number;
  registry: StoreRegistry;
  close(): Promise<void>;
}

type Route = (api: FgaApi, m: string[], q: URLSearchParams, body: () => Promise<unknown>) => ApiResult | Promise<ApiResult>;

const ROUTES: { method: string; pattern: RegExp; handler: Route }[] = [
  { method: 'POST', pattern: /^\/stores$/, handler: async (api, _m, _q, body) => api.createStore(await body()) },
  { method: 'GET', pattern: /^\/stores$/, handler: (api, _m, q) => api.listStores(q) },
  { method: 'GET', pattern: /^\/stores\/([^/]+)$/, handler: (api, m) => api.getStore(m[1]!) },
  { method: 'DELETE', pattern: /^\/stores\/([^/]+)$/, handler: (api, m) => api.deleteStore(m[1]!) },
  { method: 'POST', pattern: /^\/stores\/([^/]+)\/authorization-models$/, handler: async (api, m, _q, body) => api.writeModel(m[1]!, await body()) },
  { method: 'GET', pattern: /^\/stores\/([^/]+)\/authorization-models$/, handler: (api, m, q) => api.listModels(m[1]!, q) },
  { method: 'GET', pattern: /^\/stores\/([^/]+)\/authorization-models\/([^/]+)$/, handler: (api, m) => api.getModel(m[1]!, m[2]!) },
  { method: 'POST', pattern: /^\/stores\/([^/]+)\/write$/, handler: async (api, m, _q, body) => api.write(m[1]!, await body()) },
  { method: 'POST', pattern: /^\/stores\/([^/]+)\/read$/, handler: async (api, m, _q, body) => api.read(m[1]!, await body()) },
  { method: 'POST', pattern: /^\/stores\/([^/]+)\/check$/, handler: async (api, m, _q, body) => api.check(m[1]!, await body()) },
  { method: 'POST', pattern: /^\/stores\/([^/]+)\/batch-check$/, handler: async (api, m, _q, body) => api.batchCheck(m[1]!, await body()) },
  { method: 'GET', pattern: /^\/stores\/([^/]+)\/changes$/, handler: (api, m, q) => api.readChanges(m[1]!, q) },
];

function tokenMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer (.+)$/i.exec(header ?? '');
  if (!m) return false;
  const a = Buffer.from(m[1]!);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function startFgaApiServer(opts: FgaApiServerOptions): Promise<FgaApiServer> {
  let registry: StoreRegistry;
  if (opts.store instanceof StoreRegistry) registry = opts.store;
  else {
    registry = new StoreRegistry();
    if (opts.store instanceof EmbeddedStore) registry.add(opts.store);
  }
  const api = new FgaApi(registry);
  const log = opts.log;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const url = new URL(req.url ?? '/', 'http://localhost');
    let status = 500;
    try {
      if (opts.latencyMs && opts.latencyMs > 0) await sleep(opts.latencyMs);
      if (opts.apiToken !== undefined && !tokenMatches(req.headers.authorization, opts.apiToken)) {
        status = 401;
        sendJson(res, 401, { code: 'unauthenticated', message: 'unauthenticated' });
        return;
      }
      const path = url.pathname.replace(/\/+$/, '') || '/';
      let matchedPath = false;
      for (const r of ROUTES) {
        const m = r.pattern.exec(path);
        if (!m) continue;
        matchedPath = true;
        if (r.method !== req.method) continue;
        const params = m.map((p) => decodeURIComponent(p));
        const result = await r.handler(api, params, url.searchParams, () => readJsonBody(req));
        status = result.status;
        sendJson(res, result.status, result.body, result.headers);
        return;
      }
      status = matchedPath ? 405 : 404;
      if (matchedPath) sendJson(res, 405, { code: 'undefined_endpoint', message: `method ${req.method} not allowed` });
      else sendJson(res, 404, { code: 'undefined_endpoint', message: 'Not Found' });
    } catch (err) {
      const e = sendError(res, err);
      status = e.httpStatus;
      if (!(err instanceof FgaCheckError)) log.error({ err: (err as Error)?.message, path: url.pathname }, 'fga api: internal error');
    } finally {
      log.debug({ method: req.method, path: url.pathname, status, ms: Math.round((performance.now() - started) * 100) / 100 }, 'fga api request');
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err: (err as Error)?.message }, 'fga api: unhandled');
      if (!res.headersSent) sendError(res, err);
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 65_000;
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  log.info({ host: opts.host, port }, 'fga api listening');
  return {
    port,
    registry,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
