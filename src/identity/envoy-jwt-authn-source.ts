// The JWT payload Envoy's jwt_authn filter already verified (signature, issuer,
// audience, expiry) and put in dynamic metadata with `payload_in_metadata`.
// Envoy checked `exp` when it verified, but the metadata may reach us later
// (a retried or queued request), so `exp`/`nbf` are checked again here.
import { principalFromClaims, type ClaimNames } from './claims.js';
import { IdentityReason } from './reasons.js';
import { identified, invalid } from './results.js';
import type { IdentitySource } from './source.js';

export interface EnvoyJwtAuthnOptions {
  readonly namespace: string;
  /** The `payload_in_metadata` key; when unset the only payload in the namespace counts. */
  readonly payloadKey: string | undefined;
  readonly claims: ClaimNames;
  readonly clockSkewS: number;
  readonly clock: () => number;
}

export function envoyJwtAuthnSource(opts: EnvoyJwtAuthnOptions): IdentitySource {
  const skewMs = opts.clockSkewS * 1000;
  return (req) => {
    const ns = req.filterMetadata[opts.namespace];
    if (ns === undefined || ns === null) return undefined;
    if (!isObject(ns)) return invalid(IdentityReason.tokenMalformed, 'jwt_authn metadata is not an object');
    let payload: unknown;
    if (opts.payloadKey !== undefined) {
      payload = ns[opts.payloadKey];
      if (payload === undefined) return undefined;
    } else {
      const payloads = Object.values(ns).filter((v) => isObject(v) && !looksLikeJoseHeader(v));
      if (payloads.length === 0) return undefined;
      if (payloads.length > 1) {
        return invalid(IdentityReason.ambiguousCredentials, 'several jwt_authn payloads; set identity.envoy_jwt_authn.payload_key');
      }
      payload = payloads[0];
    }
    if (!isObject(payload)) return invalid(IdentityReason.tokenMalformed, 'jwt_authn payload is not an object');
    const now = opts.clock();
    const { exp, nbf } = payload;
    if (exp !== undefined) {
      if (typeof exp !== 'number') return invalid(IdentityReason.tokenMalformed, '"exp" is not a number');
      if (exp * 1000 + skewMs <= now) return invalid(IdentityReason.tokenExpired);
    }
    if (nbf !== undefined) {
      if (typeof nbf !== 'number') return invalid(IdentityReason.tokenMalformed, '"nbf" is not a number');
      if (nbf * 1000 - skewMs > now) return invalid(IdentityReason.tokenNotYetValid);
    }
    const principal = principalFromClaims(payload, opts.claims, 'envoy_jwt_authn');
    return principal.kind === 'invalid' ? principal : identified(principal);
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** `header_in_metadata` puts the JOSE header next to the payload; it is not a second identity. */
function looksLikeJoseHeader(v: Record<string, unknown>): boolean {
  return typeof v.alg === 'string' && v.sub === undefined && v.iss === undefined && v.exp === undefined;
}
