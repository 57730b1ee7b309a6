// DEVELOPMENT ONLY: identity from plain request headers, so a service can be
// tried without an identity provider. Anyone who can reach the sidecar can
// claim any identity this way; it is off unless `trusted_headers: true`, and
// then these headers are consulted only when no real credential was presented.
import type { Principal } from '../decision/types.js';
import { splitList } from './claims.js';
import { headerOccurrences } from './header-occurrences.js';
import { IdentityReason } from './reasons.js';
import { identified, invalid } from './results.js';
import type { IdentitySource } from './source.js';

export const USER_HEADER = 'x-user-id';
export const TENANT_HEADER = 'x-tenant-id';
export const ROLES_HEADER = 'x-roles';

export function trustedHeadersSource(): IdentitySource {
  return (req) => {
    if (headerOccurrences(req, USER_HEADER) > 1 || headerOccurrences(req, TENANT_HEADER) > 1) {
      return invalid(IdentityReason.ambiguousCredentials, 'identity header sent twice');
    }
    const user = req.headers[USER_HEADER]?.trim();
    if (user === undefined || user === '') return undefined;
    const tenant = req.headers[TENANT_HEADER]?.trim();
    const principal: Principal = {
      id: user,
      kind: 'user',
      tenant: tenant === undefined || tenant === '' ? undefined : tenant,
      roles: splitList(req.headers[ROLES_HEADER] ?? ''),
      claims: {},
      source: 'trusted_headers',
    };
    return identified(principal);
  };
}
