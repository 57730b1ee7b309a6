// Identity's own metrics. A hot reload builds a new identity service against
// the same registry, so each metric is looked up by name before it is created.
import { Counter, type Registry } from 'prom-client';
import type { SidecarMetrics } from '../observability/metrics.js';

export type JwksFetchOutcome = 'success' | 'error';

export interface IdentityMetrics {
  /** A JWKS load: a remote fetch or a read of the local file. */
  jwksFetch(outcome: JwksFetchOutcome): void;
  /** A key left out of a loaded set because verifying with it would cost too much (jwks-document.ts). */
  jwksKeyIgnored(): void;
  tokenCacheHit(): void;
  tokenCacheMiss(): void;
}

const NOOP: IdentityMetrics = { jwksFetch: () => {}, jwksKeyIgnored: () => {}, tokenCacheHit: () => {}, tokenCacheMiss: () => {} };

export function createIdentityMetrics(metrics: SidecarMetrics | undefined): IdentityMetrics {
  if (metrics === undefined) return NOOP;
  const { registry } = metrics;
  const fetches = counter(registry, 'authz_jwks_fetches_total',
    'JWKS loads (remote fetches and local file reads) by outcome (success, error).', ['outcome']);
  const ignored = counter(registry, 'authz_jwks_keys_ignored_total',
    'JWKS keys left out of a loaded set: RSA exponent above 2^32+1 or modulus above jwks_max_rsa_modulus_bits.', []);
  const hits = counter(registry, 'authz_token_cache_hits_total',
    'Bearer tokens answered from the verified-token cache (no signature check).', []);
  const misses = counter(registry, 'authz_token_cache_misses_total',
    'Bearer tokens not in the verified-token cache (verified with a signature check).', []);
  const success = fetches.labels('success');
  const error = fetches.labels('error');
  return {
    jwksFetch: (outcome) => (outcome === 'success' ? success : error).inc(),
    jwksKeyIgnored: () => ignored.inc(),
    tokenCacheHit: () => hits.inc(),
    tokenCacheMiss: () => misses.inc(),
  };
}

function counter(registry: Registry, name: string, help: string, labelNames: string[]): Counter<string> {
  const existing = registry.getSingleMetric(name);
  if (existing instanceof Counter) return existing as Counter<string>;
  return new Counter({ name, help, labelNames, registers: [registry] });
}
