/**
 * Why identity refused a request: stable snake_case reason codes. They are
 * API: they appear in deny bodies, metrics labels
 * (`authz_identity_failures_total{reason}`) and audit events, so a code is
 * never renamed and never carries request data.
 *
 * - `no_identity`          nothing was presented. Not an `invalid` result:
 *                          identity answers `{ kind: 'none' }` and the
 *                          authorizer turns it into this code unless the
 *                          route is anonymous.
 * - `token_malformed`      the bearer value is not a compact JWS we can read
 *                          (wrong scheme, not three base64url parts, bad
 *                          JSON, oversized, wrong claim types such as a
 *                          non-numeric `exp`).
 * - `token_expired`        `exp` is in the past by more than `clock_skew_s`
 *                          (also for an Envoy jwt_authn payload).
 * - `token_not_yet_valid`  `nbf` is in the future by more than `clock_skew_s`.
 * - `token_bad_signature`  the signature does not verify with the key the
 *                          `kid` names.
 * - `token_bad_issuer`     `iss` is missing or not one of `identity.jwt.issuer`.
 * - `token_bad_audience`   `aud` is missing or names none of `identity.jwt.audience`.
 * - `token_alg_not_allowed` the header's `alg` is not in `identity.jwt.algorithms`
 *                          (always the case for `none` and every HMAC algorithm,
 *                          which refuses algorithm-confusion forgeries).
 * - `token_unknown_key`    no key in the JWKS matches the token's `kid`/`alg`
 *                          (after the one rate-limited refetch for a remote JWKS).
 * - `token_missing_claims` the token verified but the subject claim is absent
 *                          or empty, `exp` is absent, or the tenant/roles
 *                          claims have an unusable type.
 * - `jwks_unavailable`     the remote JWKS could not be fetched (unreachable,
 *                          timeout, non-200, not a key set): fail closed.
 * - `ambiguous_credentials` a credential header occurs twice (`authorization`,
 *                          `x-forwarded-client-cert`, or the dev-mode
 *                          `x-user-id`/`x-tenant-id`), or Envoy's metadata
 *                          holds two verified payloads and no `payload_key`
 *                          says which one counts.
 * - `bad_spiffe_id`        the workload id (peer principal or XFCC URI) is not
 *                          a valid SPIFFE id, or its trust domain is not trusted.
 */
export const IdentityReason = {
  noIdentity: 'no_identity',
  tokenMalformed: 'token_malformed',
  tokenExpired: 'token_expired',
  tokenNotYetValid: 'token_not_yet_valid',
  tokenBadSignature: 'token_bad_signature',
  tokenBadIssuer: 'token_bad_issuer',
  tokenBadAudience: 'token_bad_audience',
  tokenAlgNotAllowed: 'token_alg_not_allowed',
  tokenUnknownKey: 'token_unknown_key',
  tokenMissingClaims: 'token_missing_claims',
  jwksUnavailable: 'jwks_unavailable',
  ambiguousCredentials: 'ambiguous_credentials',
  badSpiffeId: 'bad_spiffe_id',
} as const;

export type IdentityReasonCode = (typeof IdentityReason)[keyof typeof IdentityReason];
