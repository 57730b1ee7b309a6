// The one catalogue of reason codes. A reason code is API: it appears in deny
// bodies (`{error, reason, decision_id}`), the gRPC status message, metrics
// labels and audit events, so a code is never renamed and never carries
// request data. docs/reason-codes.md is generated from this table
// (`npm run docs`) and test/decision/reason-codes.test.ts fails when the docs,
// or a code used in src/, drift from it.

export interface ReasonCodeInfo {
  /** HTTP status of the deny (gRPC carries the same in denied_response.status). */
  readonly status: number;
  /** Where the code comes from, for the docs' grouping. */
  readonly group: ReasonGroup;
  readonly meaning: string;
}

export type ReasonGroup =
  | 'decision' | 'request' | 'identity' | 'tenant' | 'rbac' | 'rebac' | 'policy' | 'budget' | 'audit'
  | 'transport';

export const REASON_GROUP_TITLES: Readonly<Record<ReasonGroup, string>> = {
  decision: 'Decision',
  request: 'Request and route',
  identity: 'Identity',
  tenant: 'Tenant isolation',
  rbac: 'Roles (RBAC)',
  rebac: 'Relationships (ReBAC)',
  policy: 'Policy',
  budget: 'Budgets',
  audit: 'Audit',
  transport: 'Transport',
};

export const REASON_CODES = {
  allowed: { status: 200, group: 'decision', meaning: 'the request may proceed' },
  no_decision: { status: 403, group: 'decision', meaning: 'every stage abstained (deny by default)' },
  deadline_exceeded: { status: 503, group: 'decision', meaning: 'the decision did not finish within its deadline (`deadline_ms`, or less when Envoy\'s `grpc-timeout` says so)' },
  stage_error: { status: 503, group: 'decision', meaning: 'a stage threw or answered something that is not a result (a bug or a dependency); fail closed' },
  identity_error: { status: 503, group: 'decision', meaning: 'the identity resolver itself failed (not a bad credential)' },
  internal_error: { status: 503, group: 'decision', meaning: 'the decision or its answer failed unexpectedly; the failure is contained to this request (counted in `authz_internal_errors_total`)' },
  overloaded: { status: 503, group: 'decision', meaning: 'load shedding (`load_shedding.enabled`): the event loop was running later than `max_event_loop_lag_ms`, or was saturated and late and this request fell in the share being shed (`authz_shed_fraction`), or `max_in_flight` decisions were waiting on I/O; answered at once, no stage ran, not audited (counted in `authz_shed_total`). Also gRPC: more request bytes pending across all streams than `server.grpc.max_buffered_bytes` (that deny goes through the authorizer and is audited)' },

  no_route: { status: 403, group: 'request', meaning: 'no route matches method + path + host' },
  malformed_request: { status: 403, group: 'request', meaning: 'the CheckRequest could not be decoded' },
  missing_attributes: { status: 403, group: 'request', meaning: 'the CheckRequest lacks `attributes.request.http`' },
  bad_path: { status: 403, group: 'request', meaning: 'the path cannot be normalized safely (control characters, not absolute)' },
  bad_path_encoding: { status: 403, group: 'request', meaning: 'the path has an invalid or non-UTF-8 percent-encoding' },
  encoded_slash: { status: 403, group: 'request', meaning: 'the path has an encoded slash or backslash (`%2F`, `%5C`)' },
  header_too_large: { status: 403, group: 'request', meaning: 'the headers exceed the size limit (64 KiB in total)' },
  header_not_utf8: { status: 403, group: 'request', meaning: 'a header value is not valid UTF-8' },
  metadata_too_deep: { status: 403, group: 'request', meaning: 'Envoy metadata is nested absurdly deep' },
  ambiguous_host: { status: 403, group: 'request', meaning: 'two `Host` (or `:authority`) values, sent twice or comma-joined (`a.example, b.example`)' },
  too_many_headers: { status: 403, group: 'request', meaning: 'more than 1,000 header entries (counted as entries, empty names too), so none is silently dropped' },
  metadata_too_large: { status: 403, group: 'request', meaning: 'the CheckRequest holds more than 10,000 metadata, context-extension or label entries' },
  message_too_large: { status: 403, group: 'request', meaning: 'gRPC: the request message (or its length prefix) is over `server.grpc.max_message_bytes`' },
  message_timeout: { status: 403, group: 'request', meaning: 'gRPC: the stream did not deliver its whole message within `server.grpc.message_timeout_ms`' },
  bad_framing: { status: 403, group: 'request', meaning: 'gRPC: no message, a truncated one, more than one, or a bad flag byte' },
  compressed_message: { status: 403, group: 'request', meaning: 'gRPC: a compressed message (the sidecar offers only `identity`)' },
  no_resource_tenant: { status: 403, group: 'request', meaning: 'the route names a tenant source that the request does not carry' },
  ambiguous_tenant: { status: 403, group: 'request', meaning: 'the tenant header is duplicated or comma-joined' },
  no_resource_id: { status: 403, group: 'request', meaning: 'the route names a resource id the request does not carry' },

  no_identity: { status: 401, group: 'identity', meaning: 'no credentials on a route that needs them' },
  token_malformed: { status: 401, group: 'identity', meaning: 'the bearer value is not a compact JWS we can read (wrong scheme, not three base64url parts, bad JSON, oversized, wrong claim types)' },
  token_expired: { status: 401, group: 'identity', meaning: '`exp` is in the past by more than `clock_skew_s` (also for an Envoy jwt_authn payload)' },
  token_not_yet_valid: { status: 401, group: 'identity', meaning: '`nbf` is in the future by more than `clock_skew_s`' },
  token_bad_signature: { status: 401, group: 'identity', meaning: 'the signature does not verify with the key the `kid` names' },
  token_bad_issuer: { status: 401, group: 'identity', meaning: '`iss` is missing or not one of `identity.jwt.issuer`' },
  token_bad_audience: { status: 401, group: 'identity', meaning: '`aud` is missing or names none of `identity.jwt.audience`' },
  token_alg_not_allowed: { status: 401, group: 'identity', meaning: 'the header\'s `alg` is not in `identity.jwt.algorithms` (always so for `none` and HMAC)' },
  token_unknown_key: { status: 401, group: 'identity', meaning: 'no key in the JWKS matches the token\'s `kid`/`alg` (after the one rate-limited refetch)' },
  token_missing_claims: { status: 401, group: 'identity', meaning: 'the token verified but the subject is absent or empty, `exp` is absent, or tenant/roles have an unusable type' },
  jwks_unavailable: { status: 401, group: 'identity', meaning: 'the remote key set could not be fetched (unreachable, timeout, non-200, not a key set): fail closed' },
  ambiguous_credentials: { status: 401, group: 'identity', meaning: 'a credential header occurs twice, or Envoy\'s metadata holds two payloads and no `payload_key` says which counts' },
  bad_spiffe_id: { status: 401, group: 'identity', meaning: 'the workload id is not a valid SPIFFE id of a trusted domain' },

  no_tenant: { status: 403, group: 'tenant', meaning: 'the caller or the resource has no tenant' },
  tenant_mismatch: { status: 403, group: 'tenant', meaning: 'the caller\'s tenant is not the resource\'s (no role crosses tenants)' },

  rbac_denied: { status: 403, group: 'rbac', meaning: 'none of the caller\'s roles grants the action on the resource type' },

  rebac_denied: { status: 403, group: 'rebac', meaning: 'the relationship does not hold (or `mode: any` and none holds; or the caller is anonymous)' },
  rebac_unavailable: { status: 503, group: 'rebac', meaning: 'OpenFGA could not answer in time: timeout (incl. a slow-drip answer), 5xx/429, refused or reset connection, malformed answer, answer over the byte cap, redirect (never followed), breaker open, model not loaded yet' },
  rebac_bad_request: { status: 403, group: 'rebac', meaning: 'the check is invalid: unknown type or relation, malformed object or user id, missing route parameter, a condition given a wrong-typed context value, a claim for contextual tuples that is not a list of strings or has more values than the route allows' },

  policy_denied: { status: 403, group: 'policy', meaning: 'the policy said no (a policy may give its own reason and `http_status`)' },
  policy_error: { status: 503, group: 'policy', meaning: 'the policy trapped, outgrew its memory cap, ran past its deadline or returned something that is not a decision' },
  policy_unavailable: { status: 503, group: 'policy', meaning: 'no bundle has loaded yet' },

  budget_exhausted: { status: 429, group: 'budget', meaning: 'a cost budget (daily/monthly) would be exceeded; `Retry-After` says when it resets' },
  rate_limited: { status: 429, group: 'budget', meaning: 'a rate (rps/rpm) would be exceeded; `Retry-After` says when it resets' },
  bad_cost: { status: 403, group: 'budget', meaning: 'the cost header is not a usable number (nothing is charged)' },
  budget_no_tenant: { status: 403, group: 'budget', meaning: 'no tenant to charge' },
  budget_unknown_tenant: { status: 403, group: 'budget', meaning: 'a tenant without limits and no `defaults`' },
  budget_unavailable: { status: 503, group: 'budget', meaning: 'Redis cannot answer (or answered malformed) and `on_unavailable: deny`' },

  audit_unavailable: { status: 503, group: 'audit', meaning: 'the write-ahead audit trail cannot take the event (not open yet, disk full or unwritable, `max_bytes` reached with nothing shipped to delete) and `on_full: deny` — no unaudited access' },

  upstream_unavailable: { status: 502, group: 'transport', meaning: 'inline proxy: the upstream refused, reset or closed the connection (the decision was an allow)' },
  upstream_timeout: { status: 504, group: 'transport', meaning: 'inline proxy: the upstream did not connect or answer within `connect_timeout_ms` / `response_timeout_ms`' },
  body_too_large: { status: 413, group: 'transport', meaning: 'inline proxy: the request body is over `max_body_bytes` (declared or counted while streaming)' },
  upload_timeout: { status: 408, group: 'transport', meaning: 'inline proxy: the request body paused longer than `upload_idle_timeout_ms`' },
} as const satisfies Readonly<Record<string, ReasonCodeInfo>>;

export type ReasonCode = keyof typeof REASON_CODES;

export function isReasonCode(value: string): value is ReasonCode {
  return Object.prototype.hasOwnProperty.call(REASON_CODES, value);
}

/** Named constants for the codes several rooms produce (no string literal repeated across files). */
export const DEADLINE_EXCEEDED: ReasonCode = 'deadline_exceeded';
export const INTERNAL_ERROR: ReasonCode = 'internal_error';
export const AUDIT_UNAVAILABLE: ReasonCode = 'audit_unavailable';
export const OVERLOADED: ReasonCode = 'overloaded';

/** The Markdown of docs/reason-codes.md. */
export function renderReasonCodesMarkdown(): string {
  const out: string[] = [
    '# Reason codes',
    '',
    '<!-- Generated from src/decision/reason-codes.ts by `npm run docs`; do not edit by hand. -->',
    '',
    'Stable snake_case strings, used in deny bodies (`{error, reason, decision_id}`), the gRPC',
    'status message, metrics labels (`authz_decisions_total{reason}`) and audit events. A code',
    'is never renamed and never carries request data.',
  ];
  for (const group of Object.keys(REASON_GROUP_TITLES) as ReasonGroup[]) {
    const rows = Object.entries(REASON_CODES).filter(([, info]) => info.group === group);
    if (rows.length === 0) continue;
    out.push('', `## ${REASON_GROUP_TITLES[group]}`, '', '| reason | status | meaning |', '|---|---|---|');
    for (const [code, info] of rows) out.push(`| \`${code}\` | ${info.status} | ${info.meaning.replace(/\|/g, '\\|')} |`);
  }
  return out.join('\n') + '\n';
}
