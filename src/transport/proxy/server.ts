// Inline mode: the sidecar is the service's front door. Each request is
// decided first; an allowed one is forwarded to the upstream with the identity
// headers set (any the client sent under those names are removed first, so
// they cannot be spoofed); a denied one is answered here.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import httpProxy from 'http-proxy';
import type { AuthzRequest, Decision } from '../../decision/types.js';
import type { Logger } from '../../observability/logger.js';
import { authzRequestFromHttp } from '../../request/from-http-request.js';
import { denyBody } from '../decision-response.js';
import { listen } from '../listen.js';

export interface ProxyServerOptions {
  readonly host: string;
  readonly port: number;
  readonly upstream: string;
  readonly decide: (req: AuthzRequest) => Decision | Promise<Decision>;
  readonly log: Logger;
  readonly upstreamTimeoutMs?: number;
}

const IDENTITY_HEADER_PREFIX = 'x-authz-';

export async function startProxyServer(opts: ProxyServerOptions): Promise<{ port: number; close(): Promise<void> }> {
  const proxy = httpProxy.createProxyServer({
    target: opts.upstream,
    xfwd: true,
    proxyTimeout: opts.upstreamTimeoutMs ?? 30_000,
    timeout: opts.upstreamTimeoutMs ?? 30_000,
  });
  proxy.on('error', (err, _req, res) => {
    opts.log.warn({ error: err.message }, 'upstream error');
    const out = res as ServerResponse;
    if ('headersSent' in out && !out.headersSent) {
      const body = JSON.stringify({ error: 'bad gateway', reason: 'upstream_unavailable' });
      out.writeHead(502, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      out.end(body);
    } else if ('destroy' in out) {
      out.destroy();
    }
  });

  const forward = (req: IncomingMessage, res: ServerResponse, decision: Decision) => {
    if (!decision.allowed) {
      const body = denyBody(decision);
      res.writeHead(decision.status, {
        ...decision.responseHeaders,
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
      return;
    }
    for (const name of Object.keys(req.headers)) {
      if (name.startsWith(IDENTITY_HEADER_PREFIX)) delete req.headers[name];
    }
    for (const [name, value] of Object.entries(decision.upstreamHeaders)) req.headers[name] = value;
    for (const [name, value] of Object.entries(decision.responseHeaders)) res.setHeader(name, value);
    proxy.web(req, res);
  };

  const server = createServer((req, res) => {
    let decision: Decision | Promise<Decision>;
    try {
      decision = opts.decide(authzRequestFromHttp(req, {}));
    } catch (err) {
      opts.log.error({ error: (err as Error).message }, 'decision failed; denying');
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'unavailable', reason: 'internal_error' }));
      return;
    }
    if (decision instanceof Promise) {
      decision.then(
        (d) => forward(req, res, d),
        () => {
          res.writeHead(503, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: 'unavailable', reason: 'internal_error' }));
        },
      );
    } else {
      forward(req, res, decision);
    }
  });
  const listening = await listen(server, opts.host, opts.port);
  return {
    port: listening.port,
    close: async () => {
      await listening.close();
      proxy.close();
    },
  };
}
