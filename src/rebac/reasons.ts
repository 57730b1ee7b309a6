// The rebac stage's reason codes: stable strings used in deny bodies, metric
// labels and audit events (catalogued in src/decision/reason-codes.ts).

/** The relationship does not hold (or the principal has no OpenFGA identity). */
export const REBAC_DENIED = 'rebac_denied';
/** OpenFGA could not answer: timeout, 5xx/429, refused connection, malformed/oversized answer, redirect, breaker open, not started. */
export const REBAC_UNAVAILABLE = 'rebac_unavailable';
/** The check itself is invalid: unknown type or relation, malformed object or user id, a bad contextual-tuples claim. */
export const REBAC_BAD_REQUEST = 'rebac_bad_request';
