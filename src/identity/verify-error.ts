// jose's verification errors → our stable reason codes. The mapping is by
// class and by the claim jose names, never by message text.
import { errors } from 'jose';
import { JwksUnavailableError } from './key-source.js';
import { IdentityReason, type IdentityReasonCode } from './reasons.js';

export function reasonForVerifyError(err: unknown): IdentityReasonCode {
  if (err instanceof JwksUnavailableError) return IdentityReason.jwksUnavailable;
  if (err instanceof errors.JWTExpired) return IdentityReason.tokenExpired;
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.reason === 'invalid') return IdentityReason.tokenMalformed; // e.g. "exp" is not a number
    switch (err.claim) {
      case 'nbf':
        return IdentityReason.tokenNotYetValid;
      case 'iss':
        return IdentityReason.tokenBadIssuer;
      case 'aud':
        return IdentityReason.tokenBadAudience;
      case 'exp':
        return err.reason === 'missing' ? IdentityReason.tokenMissingClaims : IdentityReason.tokenExpired;
      default:
        return IdentityReason.tokenMalformed;
    }
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return IdentityReason.tokenAlgNotAllowed;
  if (err instanceof errors.JWKSNoMatchingKey) return IdentityReason.tokenUnknownKey;
  if (err instanceof errors.JWSSignatureVerificationFailed) return IdentityReason.tokenBadSignature;
  // JWSInvalid, JWTInvalid, JOSENotSupported (e.g. an unknown `crit` header), and
  // anything jose throws on input it cannot parse.
  return IdentityReason.tokenMalformed;
}
