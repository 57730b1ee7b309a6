// The identity room: who is calling, from the credentials on the request.
//
// Sources are asked in this order, and the first one whose credential is
// present decides — as a principal or as `invalid`; a presented credential
// that fails never falls through to the next, weaker source:
//
//  1. Envoy jwt_authn metadata — an end-user token Envoy has already verified;
//     the cheapest and as strong as our own check.
//  2. Bearer JWT — the end user, verified here. Users come before workloads
//     because in a mesh the mTLS peer is usually a gateway or a calling
//     service acting for the user: the token says who, the peer only says via
//     whom.
//  3. SPIFFE workload id (mTLS peer or XFCC) — service-to-service calls that
//     carry no user token.
//  4. Trusted headers — development only, anyone can set them, so last.
//
// Nothing presented → `{ kind: 'none' }`; the authorizer decides whether the
// route allows anonymous access.
import { resolve } from 'node:path';
import type { IdentityConfig, JwtConfig } from '../config/schema.js';
import type { IdentityResolver, IdentityResult } from '../decision/interfaces.js';
import type { AuthzRequest } from '../decision/types.js';
import type { Logger } from '../observability/logger.js';
import type { SidecarMetrics } from '../observability/metrics.js';
import { bearerTokenSource } from './bearer-source.js';
import { DEFAULT_CLAIM_NAMES } from './claims.js';
import { envoyJwtAuthnSource } from './envoy-jwt-authn-source.js';
import { JwtVerifier } from './jwt-verifier.js';
import type { KeySource } from './key-source.js';
import { createLocalKeySource } from './local-jwks.js';
import { createIdentityMetrics, type IdentityMetrics } from './metrics.js';
import { createRemoteKeySource } from './remote-jwks.js';
import { NO_IDENTITY } from './results.js';
import type { IdentitySource } from './source.js';
import { spiffeSource } from './spiffe-source.js';
import { trustedHeadersSource } from './trusted-headers-source.js';

export { IdentityReason, type IdentityReasonCode } from './reasons.js';

export interface IdentityService extends IdentityResolver {
  /**
   * Resolves when keys are loaded. A local JWKS file that cannot be read or
   * parsed rejects with a clear error; a remote JWKS keeps retrying, so this
   * stays pending while the key server is down (requests deny `jwks_unavailable`).
   */
  ready(): Promise<void>;
  close(): void;
}

export interface IdentityDeps {
  readonly log: Logger;
  readonly metrics?: SidecarMetrics;
  /** A relative `jwks_file` is resolved against this (the config file's directory). */
  readonly baseDir: string;
  /** Milliseconds since the epoch; tests inject one to move time. Default `Date.now`. */
  readonly clock?: () => number;
}

const DEFAULT_SKEW_S = 30;

export function createIdentityService(config: IdentityConfig, deps: IdentityDeps): IdentityService {
  const { log } = deps;
  const clock = deps.clock ?? Date.now;
  const metrics = createIdentityMetrics(deps.metrics);
  const sources: IdentitySource[] = [];
  let keys: KeySource | undefined;

  if (config.envoy_jwt_authn?.enabled) {
    const envoy = config.envoy_jwt_authn;
    sources.push(envoyJwtAuthnSource({
      namespace: envoy.namespace,
      payloadKey: envoy.payload_key,
      claims: envoy.claims ?? config.jwt?.claims ?? DEFAULT_CLAIM_NAMES,
      clockSkewS: config.jwt?.clock_skew_s ?? DEFAULT_SKEW_S,
      clock,
    }));
  }
  if (config.jwt !== undefined) {
    keys = createKeySource(config.jwt, deps.baseDir, log, metrics, clock);
    const verifier = new JwtVerifier({
      algorithms: config.jwt.algorithms,
      issuer: config.jwt.issuer,
      audience: config.jwt.audience,
      clockSkewS: config.jwt.clock_skew_s,
      claims: config.jwt.claims,
      cacheSize: config.jwt.cache_size,
    }, keys, { log, metrics, clock });
    sources.push(bearerTokenSource(config.jwt.header, verifier));
  }
  if (config.spiffe?.enabled) {
    sources.push(spiffeSource({
      trustDomains: config.spiffe.trust_domains,
      xfcc: config.spiffe.xfcc,
      tenantFrom: config.spiffe.tenant_from,
      roles: config.spiffe.roles,
    }));
  }
  if (config.trusted_headers) {
    log.warn('identity.trusted_headers is on: any caller can claim any identity with x-user-id (development only)');
    sources.push(trustedHeadersSource());
  }

  const identify = (req: AuthzRequest): IdentityResult | Promise<IdentityResult> => {
    for (let i = 0; i < sources.length; i++) {
      const result = sources[i]!(req);
      if (result !== undefined) return result;
    }
    return NO_IDENTITY;
  };
  return {
    identify,
    ready: async () => {
      await keys?.ready();
    },
    close: () => keys?.close(),
  };
}

function createKeySource(jwt: JwtConfig, baseDir: string, log: Logger, metrics: IdentityMetrics, clock: () => number): KeySource {
  const limits = { maxRsaModulusBits: jwt.jwks_max_rsa_modulus_bits };
  if (jwt.jwks_url !== undefined) {
    return createRemoteKeySource({
      url: jwt.jwks_url,
      timeoutMs: jwt.jwks_timeout_ms,
      cacheMaxAgeMs: jwt.jwks_cache_s * 1000,
      cooldownMs: jwt.jwks_cooldown_s * 1000,
      crossOriginRedirects: jwt.jwks_cross_origin_redirects,
      limits,
      now: clock,
    }, { log, metrics });
  }
  // The schema guarantees one of the two.
  return createLocalKeySource(resolve(baseDir, jwt.jwks_file!), { log, metrics }, limits);
}
