// Where bearer-token keys come from: a local JWKS file or a remote JWKS URL.
// The verifier only needs a jose key resolver plus a signal that the key set
// changed (so tokens verified with a withdrawn key stop being served from cache).
import type { JWTVerifyGetKey } from 'jose';

export interface KeySource {
  readonly getKey: JWTVerifyGetKey;
  /** Resolves when a key set is loaded; rejects with an error that says what and why. */
  ready(): Promise<void>;
  /** Called after a different key set replaced the one in use. */
  onChange(listener: () => void): void;
  close(): void;
}

/** The keys could not be obtained at all: identity fails closed with `jwks_unavailable`. */
export class JwksUnavailableError extends Error {
  override readonly name = 'JwksUnavailableError';
}
