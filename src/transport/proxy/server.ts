// Inline mode: the sidecar is the service's front door. Each request is
// decided first; an allowed one is forwarded to the upstream with the identity
// headers set (every owned header the client sent — owned-headers.ts — is
// removed first, so none can be spoofed); a denied one is answered here.
// Header values go through headerValue() and any unexpected exception is this
// request's 503 internal_error: nothing thrown here can stop the process.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import httpProxy from 'http-proxy';
import { isOwnedHeader } from '../../decision/owned-headers.js';
import type { AuthzRequest, Decision } from '../../decision/types.js';
import type { Logger } from '../../observability/logger.js';
import type { SidecarMetrics } from '../../observability/metrics.js';
import { authzRequestFromHttp, NODE_MAX_HEADERS_COUNT } from '../../request/from-http-request.js';
import { denyBody } from '../decision-response.js';
import { headerValue } from '../header-value.js';
import { createInternalErrors, type InternalErrors } from '../internal-errors.js';
import { listen } from '../listen.js';

export interface ProxyServerOptions {
  readonly host: string;
  readonly port: number;
  readonly upstream: string;
  readonly decide: (req: AuthzRequest) => Decision | Promise<Decision>;
  readonly log: Logger;
  readonly upstreamTimeoutMs?: number;
  readonly metrics?: SidecarMetrics;
}

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

  const internal = createInternalErrors(opts.log, opts.metrics);

  const forward = (req: IncomingMessage, res: ServerResponse, decision: Decision) => {
    if (!decision.allowed) {
      const body = denyBody(decision);
      const headers: Record<string, string | number> = {};
      for (const name in decision.responseHeaders) headers[name] = headerValue(decision.responseHeaders[name]!);
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(body);
      res.writeHead(decision.status, headers);
      res.end(body);
      return;
    }
    for (const name of Object.keys(req.headers)) {
      if (isOwnedHeader(name)) delete req.headers[name];
    }
    // Node's http client validates these when http-proxy writes them: encode first.
    for (const name in decision.upstreamHeaders) req.headers[name] = headerValue(decision.upstreamHeaders[name]!);
    for (const name in decision.responseHeaders) res.setHeader(name, headerValue(decision.responseHeaders[name]!));
    proxy.web(req, res);
  };

  const answer = (req: IncomingMessage, res: ServerResponse, decision: Decision) => {
    try {
      forward(req, res, decision);
    } catch (err) {
      failClosed(res, internal, err);
    }
  };

  const server = createServer((req, res) => {
    let decision: Decision | Promise<Decision>;
    try {
      decision = opts.decide(authzRequestFromHttp(req, {}));
    } catch (err) {
      failClosed(res, internal, err);
      return;
    }
    if (decision instanceof Promise) {
      decision.then(
        (d) => answer(req, res, d),
        (err: unknown) => failClosed(res, internal, err),
      );
    } else {
      answer(req, res, decision);
    }
  });
  // See the HTTP ext_authz server: headers past Node's count limit are dropped silently.
  server.maxHeadersCount = NODE_MAX_HEADERS_COUNT;
  const listening = await listen(server, opts.host, opts.port);
  return {
    port: listening.port,
    close: async () => {
      await listening.close();
      proxy.close();
    },
  };
}

function failClosed(res: ServerResponse, internal: InternalErrors, err: unknown): void {
  internal.record('proxy', err);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // A header a failed forward() set must not ride on the deny.
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  const body = JSON.stringify({ error: 'unavailable', reason: 'internal_error' });
  res.writeHead(503, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
