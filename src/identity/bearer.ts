// Finds the bearer token in the configured header. Two occurrences of the
// header are refused: which one a proxy or app would honour is ambiguous.
import type { AuthzRequest } from '../decision/types.js';

export type BearerLookup = { kind: 'none' } | { kind: 'token'; token: string } | { kind: 'ambiguous' } | { kind: 'malformed' };

const NONE: BearerLookup = { kind: 'none' };

export function findBearer(req: AuthzRequest, header: string): BearerLookup {
  const value = req.headers[header];
  if (value === undefined || value === '') return NONE;
  let count = 0;
  for (const [name] of req.headerList) if (name === header && ++count > 1) return { kind: 'ambiguous' };
  // Envoy's gRPC mode joins repeated headers with ','; a token has no comma.
  if (value.includes(',')) return { kind: 'ambiguous' };
  const space = value.indexOf(' ');
  if (space < 0 || value.slice(0, space).toLowerCase() !== 'bearer') return header === 'authorization' ? NONE : { kind: 'token', token: value.trim() };
  const token = value.slice(space + 1).trim();
  return token === '' ? { kind: 'malformed' } : { kind: 'token', token };
}
