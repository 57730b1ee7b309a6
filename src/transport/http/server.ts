// Envoy's HTTP ext_authz (http_service): Envoy sends the original method, path
// and allowed headers; 200 allows and its headers are candidates for
// allowed_upstream_headers; 401/403/429/503 deny with a JSON body.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AuthzRequest, Decision } from '../../decision/types.js';
import type { Logger } from '../../observability/logger.js';
import { authzRequestFromHttp } from '../../request/from-http-request.js';
import { denyBody } from '../decision-response.js';
import { listen } from '../listen.js';

export interface HttpAuthzServerOptions {
  readonly host: string;
  readonly port: number;
  readonly decide: (req: AuthzRequest) => Decision | Promise<Decision>;
  readonly log: Logger;
  readonly pathPrefix?: string;
}

export async function startHttpAuthzServer(
  opts: HttpAuthzServerOptions,
): Promise<{ port: number; close(): Promise<void> }> {
  const { decide, log } = opts;
  const adapterOpts = { pathPrefix: opts.pathPrefix };
  const server = createServer({ maxHeaderSize: 64 * 1024 + 1024 }, (req, res) => {
    // Envoy may forward the body (with_request_body); we never read it, but
    // it must be consumed for the connection to be reused.
    if (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined) req.resume();
    let decision: Decision | Promise<Decision>;
    try {
      decision = decide(authzRequestFromHttp(req, adapterOpts));
    } catch (err) {
      failClosed(res, log, err);
      return;
    }
    if (decision instanceof Promise) {
      decision.then(
        (d) => respond(res, d),
        (err: unknown) => failClosed(res, log, err),
      );
    } else {
      respond(res, decision);
    }
  });
  server.keepAliveTimeout = 65_000;
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    // Oversized headers and garbage never reach the handler; answer plainly.
    if (!socket.writable) return;
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    const body = JSON.stringify({ error: 'bad request', reason: status === 431 ? 'header_too_large' : 'malformed_request' });
    socket.end(`HTTP/1.1 ${status} Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  });
  return listen(server, opts.host, opts.port);
}

function respond(res: ServerResponse, decision: Decision): void {
  if (decision.allowed) {
    const headers: Record<string, string> = { ...decision.upstreamHeaders, ...decision.responseHeaders };
    headers['content-length'] = '0';
    res.writeHead(200, headers);
    res.end();
    return;
  }
  const body = denyBody(decision);
  res.writeHead(decision.status, {
    ...decision.responseHeaders,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

function failClosed(res: ServerResponse, log: Logger, err: unknown): void {
  log.error({ error: err instanceof Error ? err.message : String(err) }, 'decision failed; denying');
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ error: 'unavailable', reason: 'internal_error' });
  res.writeHead(503, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export type { IncomingMessage };
