// Envoy's CheckRequest → one AuthzRequest. Whatever the message lacks or holds
// that we cannot judge becomes `malformed` (a stable reason code): the
// authorizer then denies before routing, with a decision id, metrics and audit.
import { isUtf8 } from 'node:buffer';
import type { AuthzRequest, Peer } from '../decision/types.js';
import { normalizePath } from './normalize-path.js';
import { collectHeaders, MAX_HEADER_BYTES, MAX_HEADER_COUNT, type CollectedHeaders } from './header-list.js';
import { isAmbiguousHost } from './host.js';
import type { DecodedCheckRequest, DecodedHttpRequest, DecodedMetadata, DecodedPeer } from './check-request-types.js';
import { StructTooDeepError, structToJson } from './check-request-struct.js';
import { decodedCheckRequestFromJson } from './check-request-json.js';
import { randomUuid } from '../decision/uuid.js';

export type { DecodedCheckRequest } from './check-request-types.js';

export { MAX_HEADER_BYTES } from './header-list.js';

const EMPTY: Readonly<Record<string, string>> = Object.freeze(Object.create(null) as Record<string, string>);
const NO_PEER: Peer = Object.freeze({ address: undefined, port: undefined, principal: undefined, labels: EMPTY });

// The protobuf decoder leaves U+FFFD where the path's bytes were not UTF-8:
// the text is no longer what the client sent, so it cannot be matched against
// a route. (normalizePath itself refuses lone surrogates and bad %-encodings
// with the same reason code.)
const REPLACEMENT_CHAR = '\uFFFD';

type MutableRequest = { -readonly [K in keyof AuthzRequest]: AuthzRequest[K] };

export function authzRequestFromCheck(
  msg: DecodedCheckRequest,
  transport: AuthzRequest['transport'] = 'grpc',
): AuthzRequest {
  const attrs = msg.attributes;
  const http = attrs?.request?.http;
  const req: MutableRequest = {
    requestId: '',
    method: http?.method ?? '',
    path: '',
    rawPath: '',
    query: EMPTY,
    host: '',
    scheme: http?.scheme ?? '',
    protocol: http?.protocol ?? '',
    headers: EMPTY,
    headerList: [],
    source: peerFrom(attrs?.source),
    destination: peerFrom(attrs?.destination),
    contextExtensions: attrs?.contextExtensions ?? EMPTY,
    filterMetadata: EMPTY,
    transport,
  };
  let malformed: string | undefined;
  if (attrs == null || http == null) malformed = 'missing_attributes';

  if (http != null) {
    const { collected, malformed: headerProblem } = checkHeaders(http);
    req.headers = collected.headers;
    req.headerList = collected.headerList;
    malformed ??= headerProblem;

    const target = http.path ?? '';
    const q = target.indexOf('?');
    req.rawPath = q === -1 ? target : target.slice(0, q);
    if (q !== -1 && q < target.length - 1) req.query = parseQuery(target.slice(q + 1));
    if (req.rawPath.includes(REPLACEMENT_CHAR)) {
      malformed ??= 'bad_path_encoding';
    } else {
      const normalized = normalizePath(req.rawPath);
      if (normalized.ok) req.path = normalized.path;
      else malformed ??= normalized.reason;
    }
    req.host = (http.host || req.headers[':authority'] || req.headers.host || '').toLowerCase();
    // Envoy joins repeated headers with ','; a comma-joined host is two hosts.
    if (isAmbiguousHost(req.host)) malformed ??= 'ambiguous_host';
    req.requestId = http.id || req.headers['x-request-id'] || '';
  }
  if (req.requestId === '') req.requestId = randomUuid();

  try {
    req.filterMetadata = metadataToJson(attrs?.metadataContext);
  } catch (err) {
    if (!(err instanceof StructTooDeepError)) throw err;
    malformed ??= 'metadata_too_deep';
  }
  if (malformed !== undefined) req.malformed = malformed;
  return req;
}

/** A CheckRequest in proto3 JSON (as `authz-sidecar check --request` reads it). Throws on bad input. */
export function checkRequestFromJson(json: unknown): AuthzRequest {
  return authzRequestFromCheck(decodedCheckRequestFromJson(json), 'cli');
}

interface CheckHeaders {
  readonly collected: CollectedHeaders;
  readonly malformed: string | undefined;
}

/**
 * One header semantics for every transport (collectHeaders): from `header_map`
 * (encode_raw_headers: every occurrence, values possibly raw bytes), else the
 * `headers` map as read off the wire, else the decoded map (JSON input).
 */
function checkHeaders(http: DecodedHttpRequest): CheckHeaders {
  let flat: string[];
  let malformed: string | undefined;
  const raw = http.headerMap?.headers;
  if (raw != null && raw.length > 0) {
    flat = [];
    for (const hv of raw) {
      let value = hv.value ?? '';
      const bytes = hv.rawValue;
      if (bytes != null && bytes.length > 0) {
        if (!isUtf8(bytes)) malformed ??= 'header_not_utf8';
        value = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
      }
      flat.push(hv.key ?? '', value);
    }
  } else if (http.headerEntries != null) {
    flat = http.headerEntries;
  } else {
    flat = [];
    const map = http.headers;
    if (map != null) for (const key of Object.keys(map)) flat.push(key, map[key] ?? '');
  }
  const collected = collectHeaders(flat);
  if (collected.bytes > MAX_HEADER_BYTES) malformed = 'header_too_large';
  else if (collected.headerList.length > MAX_HEADER_COUNT) malformed = 'too_many_headers';
  return { collected, malformed };
}

/** Repeated parameters are joined with ',' (like headers) so no reader can pick a different one than policy saw. */
function parseQuery(qs: string): Record<string, string> {
  const query = Object.create(null) as Record<string, string>;
  for (const [key, value] of new URLSearchParams(qs)) {
    const prior = query[key];
    query[key] = prior === undefined ? value : `${prior},${value}`;
  }
  return query;
}

function peerFrom(p: DecodedPeer | null | undefined): Peer {
  if (p == null) return NO_PEER;
  const socket = p.address?.socketAddress;
  return {
    address: socket?.address || p.address?.pipe?.path || undefined,
    port: socket?.portValue || undefined,
    principal: p.principal || undefined,
    labels: p.labels ?? EMPTY,
  };
}

function metadataToJson(md: DecodedMetadata | null | undefined): Readonly<Record<string, unknown>> {
  const fm = md?.filterMetadata;
  if (fm == null) return EMPTY;
  const keys = Object.keys(fm);
  if (keys.length === 0) return EMPTY;
  const out = Object.create(null) as Record<string, unknown>;
  for (const key of keys) out[key] = structToJson(fm[key]);
  return out;
}
