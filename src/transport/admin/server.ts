// Admin port: liveness, readiness (config, keys and every capability a route
// needs have loaded), status (a state and a message per part, and why),
// Prometheus metrics, and capability admin APIs.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Logger } from '../../observability/logger.js';
import type { SidecarMetrics } from '../../observability/metrics.js';
import type { SidecarStatus } from '../../sidecar-status.js';
import { listen } from '../listen.js';

export interface AdminServerOptions {
  readonly host: string;
  readonly port: number;
  readonly metrics: SidecarMetrics;
  readonly log: Logger;
  readonly isReady: () => boolean;
  readonly readiness: () => Record<string, boolean>;
  /** Serves /status and adds the why to /readyz. */
  readonly status?: () => SidecarStatus;
  readonly handlers?: ReadonlyArray<(req: IncomingMessage, res: ServerResponse) => boolean>;
}

export async function startAdminServer(opts: AdminServerOptions): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/healthz') return json(res, 200, { status: 'ok' });
    if (req.method === 'GET' && path === '/readyz') {
      const ready = opts.isReady();
      // checks: one boolean per part (for probes and scripts); parts: the state and why.
      const parts = opts.status ? briefParts(opts.status()) : undefined;
      return json(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not_ready', checks: opts.readiness(), ...(parts ? { parts } : {}) });
    }
    if (req.method === 'GET' && path === '/status' && opts.status) return json(res, 200, opts.status());
    if (req.method === 'GET' && path === '/metrics') {
      opts.metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': opts.metrics.registry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          opts.log.error({ error: (err as Error).message }, 'metrics collection failed');
          json(res, 500, { error: 'metrics unavailable' });
        },
      );
      return;
    }
    for (const handler of opts.handlers ?? []) {
      try {
        if (handler(req, res)) return;
      } catch (err) {
        opts.log.error({ error: (err as Error).message, path }, 'admin handler failed');
        if (!res.headersSent) json(res, 500, { error: 'internal error' });
        return;
      }
    }
    json(res, 404, { error: 'not found' });
  });
  // Scrapes and probes need no grace.
  return listen(server, opts.host, opts.port, 0);
}

function briefParts(status: SidecarStatus): Record<string, { state: string; message: string }> {
  const out: Record<string, { state: string; message: string }> = {};
  for (const name in status.parts) out[name] = { state: status.parts[name]!.state, message: status.parts[name]!.message };
  return out;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
