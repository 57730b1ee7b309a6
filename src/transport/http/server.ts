// Envoy's HTTP ext_authz (http_service): Envoy sends the original method, path
// and allowed headers; 200 allows and its headers are candidates for
// allowed_upstream_headers; 401/403/429/503 deny with a JSON body.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { ownedHeadersToRemove } from '../../decision/owned-headers.js';
import { INTERNAL_ERROR } from '../../decision/reason-codes.js';
import type { AuthzRequest, Decision } from '../../decision/types.js';
import type { Logger } from '../../observability/logger.js';
import type { SidecarMetrics } from '../../observability/metrics.js';
import { authzRequestFromHttp, NODE_MAX_HEADERS_COUNT } from '../../request/from-http-request.js';
import { denyBody } from '../decision-response.js';
import { headerValue } from '../header-value.js';
import { createInternalErrors, type InternalErrors } from '../internal-errors.js';
import { listen } from '../listen.js';

/**
 * Envoy removes the request headers this response names before forwarding
 * upstream (HTTP ext_authz's form of OkHttpResponse.headers_to_remove).
 */
const HEADERS_TO_REMOVE = 'x-envoy-auth-headers-to-remove';

export interface HttpAuthzServerOptions {
  readonly host: string;
  readonly port: number;
  readonly decide: (req: AuthzRequest) => Decision | Promise<Decision>;
  readonly log: Logger;
  readonly pathPrefix?: string;
  readonly metrics?: SidecarMetrics;
}

export async function startHttpAuthzServer(
  opts: HttpAuthzServerOptions,
): Promise<{ port: number; close(): Promise<void> }> {
  const { decide, log } = opts;
  const adapterOpts = { pathPrefix: opts.pathPrefix };
  const internal = createInternalErrors(log, opts.metrics);
  const server = createServer({ maxHeaderSize: 64 * 1024 + 1024 }, (req, res) => {
    // Envoy does not read a Date from its authz server; not sending one saves
    // a header's formatting, validation and bytes on every decision.
    res.sendDate = false;
    // Envoy may forward the body (with_request_body); we never read it, but
    // it must be consumed for the connection to be reused.
    if (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined) req.resume();
    // Nothing may throw out of here: an uncaught exception would take every
    // port down with it. Whatever fails is this request's 503 internal_error.
    let authzReq: AuthzRequest;
    let decision: Decision | Promise<Decision>;
    try {
      authzReq = authzRequestFromHttp(req, adapterOpts);
      decision = decide(authzReq);
    } catch (err) {
      failClosed(res, internal, err);
      return;
    }
    if (decision instanceof Promise) {
      decision.then(
        (d) => answer(res, d, authzReq, internal),
        (err: unknown) => failClosed(res, internal, err),
      );
    } else {
      answer(res, decision, authzReq, internal);
    }
  });
  server.keepAliveTimeout = 65_000;
  // Node drops headers past maxHeadersCount silently; a credential, tenant or
  // host repeated after them would escape the ambiguity checks. Let one more
  // than the limit through so the adapter sees the request is over it.
  server.maxHeadersCount = NODE_MAX_HEADERS_COUNT;
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    // Oversized headers and garbage never reach the handler; answer plainly.
    if (!socket.writable) return;
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    const body = JSON.stringify({ error: 'bad request', reason: status === 431 ? 'header_too_large' : 'malformed_request' });
    socket.end(`HTTP/1.1 ${status} Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  });
  return listen(server, opts.host, opts.port);
}

function answer(res: ServerResponse, decision: Decision, req: AuthzRequest, internal: InternalErrors): void {
  try {
    respond(res, decision, req);
  } catch (err) {
    failClosed(res, internal, err);
  }
}

function respond(res: ServerResponse, decision: Decision, req: AuthzRequest): void {
  // writeHead takes a flat [name, value, ...] list; building one costs less
  // than spreading the two header objects into a third (measured: respond()
  // was ~5% of the HTTP path's CPU with the spreads). Same result: a response
  // header replaces an upstream one of the same name, and the transport's own
  // content-length (and content-type on deny) replace a stage's.
  if (decision.allowed) {
    const headers = headerList(decision.upstreamHeaders, decision.responseHeaders, false);
    const remove = ownedHeadersToRemove(decision.upstreamHeaders, req.headerList);
    if (remove.joined !== '') headers.push(HEADERS_TO_REMOVE, remove.joined);
    headers.push('content-length', '0');
    res.writeHead(200, headers);
    res.end();
    return;
  }
  const body = denyBody(decision);
  const headers = headerList(undefined, decision.responseHeaders, true);
  headers.push('content-type', 'application/json', 'content-length', String(Buffer.byteLength(body)));
  res.writeHead(decision.status, headers);
  res.end(body);
}

/** `first`'s headers that `second` does not replace, then `second`'s, without the ones the transport sets. */
function headerList(
  first: Readonly<Record<string, string>> | undefined,
  second: Readonly<Record<string, string>>,
  withBody: boolean,
): string[] {
  const out: string[] = [];
  if (first !== undefined) {
    for (const name in first) {
      if (!Object.hasOwn(second, name) && !ownHeader(name, withBody)) out.push(name, headerValue(first[name]!));
    }
  }
  for (const name in second) if (!ownHeader(name, withBody)) out.push(name, headerValue(second[name]!));
  return out;
}

function ownHeader(name: string, withBody: boolean): boolean {
  return name === 'content-length' || (withBody && name === 'content-type') || name === HEADERS_TO_REMOVE;
}

function failClosed(res: ServerResponse, internal: InternalErrors, err: unknown): void {
  internal.record('http', err);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ error: 'unavailable', reason: INTERNAL_ERROR });
  res.writeHead(503, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export type { IncomingMessage };
