// Bearer JWT verification with a cache of verified tokens.
//
// The cache is what keeps the hot path cheap: a token seen before is answered
// synchronously by a map lookup and an expiry check, with no signature check
// and no promise. Entries live until the token's `exp` (plus the allowed
// skew), are bounded by `cache_size` (and by total size, since an entry holds the
// whole token), and are dropped when the key set changes, so withdrawing a
// key from the JWKS also withdraws the tokens it signed.
//
// Before any key lookup a token must look like a compact JWS and name an
// allowed `alg`: `none`, every HMAC algorithm (the RSA-public-key-as-HMAC-secret
// confusion) and anything not configured is refused without touching the
// JWKS, so such tokens cannot trigger a remote refetch either.
import { decodeProtectedHeader, errors, jwtVerify, type CryptoKey, type JWTVerifyOptions, type JWTVerifyResult } from 'jose';
import { LRUCache } from 'lru-cache';
import type { IdentityResult } from '../decision/interfaces.js';
import type { Logger } from '../observability/logger.js';
import { principalFromClaims, type ClaimNames } from './claims.js';
import type { KeySource } from './key-source.js';
import type { IdentityMetrics } from './metrics.js';
import { IdentityReason } from './reasons.js';
import { identified, invalid } from './results.js';
import { reasonForVerifyError } from './verify-error.js';

/** Larger than any real access token; bounds the work and memory one header can cost. */
export const MAX_TOKEN_LENGTH = 16 * 1024;
/** Each cache entry holds its whole token: bound the bytes, not only the count. */
const MAX_CACHE_BYTES = 64 * 1024 * 1024;
/** Re-verify at least daily even a token with a far (or infinite) `exp`. */
const MAX_CACHE_TTL_MS = 24 * 3600 * 1000;
/**
 * Cache entries are keyed by the token's last characters (the end of its
 * signature, random for any signed token) rather than the whole token: a Map
 * lookup hashes its key character by character on every request (the token
 * string is new each time), which for an RS256 token of ~800 characters
 * measured as the largest part of a cache hit. The entry keeps the whole
 * token and a hit must equal it, so a shared suffix is only a miss (and
 * only a verified token is ever cached).
 */
const CACHE_KEY_CHARS = 32;

function cacheKey(token: string): string {
  return token.length <= CACHE_KEY_CHARS ? token : token.slice(-CACHE_KEY_CHARS);
}

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export interface JwtVerifierOptions {
  readonly algorithms: readonly string[];
  readonly issuer: string | readonly string[] | undefined;
  readonly audience: string | readonly string[] | undefined;
  readonly clockSkewS: number;
  readonly claims: ClaimNames;
  readonly cacheSize: number;
}

export interface JwtVerifierDeps {
  readonly log: Logger;
  readonly metrics: IdentityMetrics;
  /** Milliseconds since the epoch; injectable so tests can move time. */
  readonly clock: () => number;
}

interface VerifiedToken {
  /** The whole token: a lookup by its key (cacheKey) is a hit only when this is the token asked about. */
  readonly token: string;
  readonly result: IdentityResult;
  /** Past this (ms since epoch) the token is expired even with the skew allowance. */
  readonly validUntilMs: number;
}

export class JwtVerifier {
  private readonly cache: LRUCache<string, VerifiedToken> | undefined;
  /** One verification per distinct token at a time: a burst of a new token costs one signature check. */
  private readonly inflight = new Map<string, Promise<IdentityResult>>();
  private readonly allowed: ReadonlySet<string>;
  /** Bumped when the key set changes; a verification that started before is not cached. */
  private keyGeneration = 0;

  constructor(
    private readonly opts: JwtVerifierOptions,
    private readonly keys: KeySource,
    private readonly deps: JwtVerifierDeps,
  ) {
    this.allowed = new Set(opts.algorithms);
    this.cache = opts.cacheSize > 0
      ? new LRUCache<string, VerifiedToken>({
          max: opts.cacheSize,
          maxSize: MAX_CACHE_BYTES,
          sizeCalculation: (value) => value.token.length + 256,
          // lru-cache's own staleness check (per-entry ttl, set below) caches
          // "now" for ttlResolution ms with a setTimeout each time it lapses:
          // at its default of 1 ms that is a timer on nearly every cache hit
          // under load. Expiry is decided by verify()'s own clock check
          // (validUntilMs), so the cache's clock only orders eviction and may
          // be a second coarse.
          ttlResolution: 1000,
        })
      : undefined;
    keys.onChange(() => {
      this.keyGeneration++;
      this.cache?.clear();
    });
  }

  /** Synchronous on a cache hit and for tokens refused before any key lookup. */
  verify(token: string): IdentityResult | Promise<IdentityResult> {
    const cache = this.cache;
    if (cache !== undefined) {
      const key = cacheKey(token);
      const hit = cache.get(key);
      if (hit !== undefined && hit.token === token) {
        if (this.deps.clock() < hit.validUntilMs) {
          this.deps.metrics.tokenCacheHit();
          return hit.result;
        }
        cache.delete(key);
        return invalid(IdentityReason.tokenExpired);
      }
      this.deps.metrics.tokenCacheMiss();
    }
    if (token.length > MAX_TOKEN_LENGTH) {
      return invalid(IdentityReason.tokenMalformed, `token longer than ${MAX_TOKEN_LENGTH} bytes`);
    }
    if (!COMPACT_JWS.test(token)) return invalid(IdentityReason.tokenMalformed, 'not a compact JWS');
    let alg: unknown;
    let kid: unknown;
    try {
      ({ alg, kid } = decodeProtectedHeader(token));
    } catch {
      return invalid(IdentityReason.tokenMalformed, 'unreadable JWS header');
    }
    if (typeof alg !== 'string') return invalid(IdentityReason.tokenMalformed, 'no "alg" in the JWS header');
    if (!this.allowed.has(alg)) {
      this.deps.log.debug({ reason: IdentityReason.tokenAlgNotAllowed, kid: logKid(kid) }, 'bearer token refused');
      return invalid(IdentityReason.tokenAlgNotAllowed);
    }
    let pending = this.inflight.get(token);
    if (pending === undefined) {
      pending = this.verifySignature(token, logKid(kid)).finally(() => this.inflight.delete(token));
      this.inflight.set(token, pending);
    }
    return pending;
  }

  private async verifySignature(token: string, kid: string | undefined): Promise<IdentityResult> {
    const generation = this.keyGeneration;
    const now = this.deps.clock();
    let payload: JWTVerifyResult['payload'];
    try {
      payload = await this.jwtVerify(token, now);
    } catch (err) {
      const reason = reasonForVerifyError(err);
      this.deps.log.debug({ reason, kid }, 'bearer token refused');
      return invalid(reason);
    }
    // jose checked `exp` is present and numeric (requiredClaims).
    const validUntilMs = ((payload.exp as number) + this.opts.clockSkewS) * 1000;
    const principal = principalFromClaims(Object.freeze(payload), this.opts.claims, 'jwt');
    if (principal.kind === 'invalid') {
      this.deps.log.debug({ reason: principal.reason, kid }, 'bearer token refused');
      return principal;
    }
    const result = identified(principal);
    const ttl = Math.min(Math.floor(validUntilMs - now), MAX_CACHE_TTL_MS);
    if (this.cache !== undefined && ttl > 0 && generation === this.keyGeneration) {
      this.cache.set(cacheKey(token), { token, result, validUntilMs }, { ttl });
    }
    return result;
  }

  private async jwtVerify(token: string, now: number): Promise<JWTVerifyResult['payload']> {
    const options: JWTVerifyOptions = {
      algorithms: [...this.opts.algorithms],
      issuer: this.opts.issuer as string | string[] | undefined,
      audience: this.opts.audience as string | string[] | undefined,
      clockTolerance: this.opts.clockSkewS,
      requiredClaims: ['exp'],
      currentDate: new Date(now),
    };
    try {
      return (await jwtVerify(token, this.keys.getKey, options)).payload;
    } catch (err) {
      if (!(err instanceof errors.JWKSMultipleMatchingKeys)) throw err;
      // Several keys fit a token without a `kid`: jose hands them over to try in turn.
      for await (const key of err as unknown as AsyncIterable<CryptoKey>) {
        try {
          return (await jwtVerify(token, key, options)).payload;
        } catch (e) {
          if (!(e instanceof errors.JWSSignatureVerificationFailed)) throw e;
        }
      }
      throw new errors.JWSSignatureVerificationFailed();
    }
  }
}

/** Only a `kid` is ever logged about a token, and only a short printable one. */
function logKid(kid: unknown): string | undefined {
  return typeof kid === 'string' ? kid.slice(0, 64) : undefined;
}
