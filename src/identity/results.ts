// Building IdentityResults. Refusals without a detail are shared frozen
// objects: a flood of bad credentials allocates nothing per request here.
import type { IdentityResult } from '../decision/interfaces.js';
import type { Principal } from '../decision/types.js';
import type { IdentityReasonCode } from './reasons.js';

export type Invalid = Extract<IdentityResult, { kind: 'invalid' }>;

export const NO_IDENTITY: IdentityResult = Object.freeze({ kind: 'none' });

const plain = new Map<string, Invalid>();

/** `detail` is for logs and the audit trail; it never holds a token, key or claim value. */
export function invalid(reason: IdentityReasonCode, detail?: string): Invalid {
  if (detail !== undefined) return Object.freeze({ kind: 'invalid', reason, detail });
  let shared = plain.get(reason);
  if (shared === undefined) {
    shared = Object.freeze({ kind: 'invalid', reason });
    plain.set(reason, shared);
  }
  return shared;
}

export function identified(principal: Principal): IdentityResult {
  return Object.freeze({ kind: 'principal', principal });
}
