// DEV ONLY: identity from plain headers. Anyone who can reach the sidecar can
// set them, so this is off unless `identity.trusted_headers: true`.
import type { IdentityResult } from '../decision/interfaces.js';
import type { AuthzRequest } from '../decision/types.js';

const USER = 'x-user-id';
const TENANT = 'x-tenant-id';
const ROLES = 'x-roles';

export function trustedHeaderIdentity(req: AuthzRequest): IdentityResult | undefined {
  const user = req.headers[USER];
  if (user === undefined || user === '') return undefined;
  let users = 0;
  let tenants = 0;
  for (const [name] of req.headerList) {
    if (name === USER) users++;
    else if (name === TENANT) tenants++;
  }
  const tenant = req.headers[TENANT];
  if (users > 1 || tenants > 1 || user.includes(',') || (tenant?.includes(',') ?? false)) {
    return { kind: 'invalid', reason: 'ambiguous_credentials' };
  }
  const roles = (req.headers[ROLES] ?? '').split(',').map((r) => r.trim()).filter((r) => r !== '');
  return {
    kind: 'principal',
    principal: Object.freeze({
      id: user,
      kind: 'user' as const,
      tenant: tenant === undefined || tenant === '' ? undefined : tenant,
      roles: Object.freeze(roles),
      claims: Object.freeze({}),
      source: 'trusted_headers' as const,
    }),
  };
}
