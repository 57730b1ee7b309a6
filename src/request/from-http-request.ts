// Envoy's HTTP ext_authz mode (`http_service`): Envoy sends us the original
// request's method and path (with `path_prefix` in front when configured) and
// the allowed original headers, with no body. This adapter turns that request
// into an AuthzRequest. It never throws for bad input: a request that cannot
// be judged is returned with `malformed` set, and the authorizer denies it.
import type { IncomingMessage } from 'node:http';
import type { AuthzRequest, Peer } from '../decision/types.js';
import { collectHeaders, firstHeader, headerCount, MAX_HEADER_BYTES, MAX_HEADER_COUNT } from './header-list.js';
import { isAmbiguousHost } from './host.js';
import { normalizePath } from './normalize-path.js';
import { escapeLatin1Bytes, parseQuery, splitRequestTarget } from './request-target.js';
import { randomUuid } from '../decision/uuid.js';

/**
 * node:http's maxHeadersCount for servers feeding this adapter: it counts
 * rawHeaders entries (name and value each), and headers past it are dropped
 * silently, so it lets one header more than MAX_HEADER_COUNT through for the
 * adapter to see the request is over.
 */
export const NODE_MAX_HEADERS_COUNT = 2 * (MAX_HEADER_COUNT + 1);

/** A client-chosen x-request-id longer than this is replaced by one of ours. */
const MAX_REQUEST_ID_LENGTH = 256;

export interface HttpRequestOptions {
  /** Envoy's `http_service.path_prefix`: removed from the path when the path starts with it. */
  readonly pathPrefix?: string;
  /**
   * Whether x-forwarded-for / x-forwarded-proto name the client (default true: in
   * http_service mode the peer is Envoy, which sets them). The inline proxy passes
   * false unless the peer is a configured trusted proxy: a client cannot name itself.
   */
  readonly trustForwarded?: boolean;
}

const NO_PEER_LABELS: Readonly<Record<string, string>> = Object.freeze({});
const UNKNOWN_DESTINATION: Peer = Object.freeze({
  address: undefined,
  port: undefined,
  principal: undefined,
  labels: NO_PEER_LABELS,
});
const EMPTY: Readonly<Record<string, never>> = Object.freeze({});

export function authzRequestFromHttp(req: IncomingMessage, opts: HttpRequestOptions = {}): AuthzRequest {
  const { headers, headerList, bytes } = collectHeaders(req.rawHeaders);
  const target = splitRequestTarget(req.url ?? '');
  const rawPath = stripPrefix(escapeLatin1Bytes(target.path), opts.pathPrefix);
  const normalized = normalizePath(rawPath);

  const trusted = opts.trustForwarded ?? true;
  let malformed: string | undefined;
  if (bytes > MAX_HEADER_BYTES) malformed = 'header_too_large';
  else if (headerList.length > MAX_HEADER_COUNT) malformed = 'too_many_headers';
  else if (!normalized.ok) malformed = normalized.reason;
  else if (headerCount(headerList, 'host') > 1 || headerCount(headerList, ':authority') > 1) malformed = 'ambiguous_host';
  // `Host: a.example, b.example` names two hosts: which tenant is meant is ambiguous.
  else if (isAmbiguousHost(headers[':authority'] ?? headers.host)) malformed = 'ambiguous_host';

  const request: AuthzRequest = {
    requestId: requestId(headerList),
    method: (req.method ?? 'GET').toUpperCase(),
    path: normalized.ok ? normalized.path : rawPath,
    rawPath,
    query: parseQuery(target.query),
    host: headers[':authority'] ?? headers.host ?? '',
    scheme: trusted ? forwardedProto(headers['x-forwarded-proto']) : 'http',
    protocol: `HTTP/${req.httpVersion}`,
    headers,
    headerList,
    source: sourcePeer(trusted ? headers['x-forwarded-for'] : undefined, req),
    destination: UNKNOWN_DESTINATION,
    contextExtensions: EMPTY,
    filterMetadata: EMPTY,
    transport: 'http',
  };
  return malformed === undefined ? request : { ...request, malformed };
}

/** Remove Envoy's path_prefix: only on a whole-segment match, so `/authz` never eats `/authzfoo`. */
function stripPrefix(path: string, prefix: string | undefined): string {
  if (prefix === undefined) return path;
  const p = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  if (p === '' || !path.startsWith(p)) return path;
  if (path.length === p.length) return '/';
  return path.charCodeAt(p.length) === 0x2f ? path.slice(p.length) : path;
}

function requestId(headerList: ReadonlyArray<readonly [string, string]>): string {
  const id = firstHeader(headerList, 'x-request-id')?.trim();
  return id !== undefined && id !== '' && id.length <= MAX_REQUEST_ID_LENGTH ? id : randomUuid();
}

/** The first hop of `x-forwarded-proto`, lower-case; `http` when absent. */
function forwardedProto(value: string | undefined): string {
  if (value === undefined) return 'http';
  const comma = value.indexOf(',');
  const first = (comma === -1 ? value : value.slice(0, comma)).trim().toLowerCase();
  return first === '' ? 'http' : first;
}

/**
 * The original client: the first `x-forwarded-for` hop when present, else the
 * connection's peer (which in http_service mode is Envoy itself). The first hop
 * is only as trustworthy as the Envoy in front of us — it must be configured to
 * overwrite, not append to, a client-supplied x-forwarded-for.
 */
function sourcePeer(forwardedFor: string | undefined, req: IncomingMessage): Peer {
  if (forwardedFor !== undefined) {
    const comma = forwardedFor.indexOf(',');
    const first = (comma === -1 ? forwardedFor : forwardedFor.slice(0, comma)).trim();
    if (first !== '') return { address: first, port: undefined, principal: undefined, labels: NO_PEER_LABELS };
  }
  return {
    address: req.socket.remoteAddress,
    port: req.socket.remotePort,
    principal: undefined,
    labels: NO_PEER_LABELS,
  };
}
