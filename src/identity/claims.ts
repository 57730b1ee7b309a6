// Verified claims → Principal, with the configured claim names. A claim name
// is looked up literally first, then as a dotted path into nested objects, so
// `realm_access.roles` (Keycloak) works without a mapping language.
import type { Principal } from '../decision/types.js';
import { IdentityReason } from './reasons.js';
import { invalid, type Invalid } from './results.js';

export interface ClaimNames {
  readonly subject: string;
  readonly tenant: string;
  readonly roles: string;
}

export const DEFAULT_CLAIM_NAMES: ClaimNames = Object.freeze({ subject: 'sub', tenant: 'tenant_id', roles: 'roles' });

const EMPTY_ROLES: readonly string[] = Object.freeze([]);

export function principalFromClaims(
  claims: Readonly<Record<string, unknown>>,
  names: ClaimNames,
  source: Principal['source'],
): Principal | Invalid {
  const subject = readClaim(claims, names.subject);
  if (typeof subject !== 'string' || subject.length === 0) {
    return invalid(IdentityReason.tokenMissingClaims, 'subject claim missing or not a string');
  }
  const rawTenant = readClaim(claims, names.tenant);
  let tenant: string | undefined;
  if (typeof rawTenant === 'string') {
    tenant = rawTenant.length > 0 ? rawTenant : undefined;
  } else if (rawTenant !== undefined && rawTenant !== null) {
    return invalid(IdentityReason.tokenMissingClaims, 'tenant claim is not a string');
  }
  const roles = parseRoles(readClaim(claims, names.roles));
  if (roles === undefined) {
    return invalid(IdentityReason.tokenMissingClaims, 'roles claim is not a list of strings');
  }
  return Object.freeze({ id: subject, kind: 'user', tenant, roles, claims, source });
}

/** A list of strings, or one string of space/comma separated roles (OAuth `scope` style). */
export function parseRoles(value: unknown): readonly string[] | undefined {
  if (value === undefined || value === null) return EMPTY_ROLES;
  if (typeof value === 'string') return Object.freeze(splitList(value));
  if (!Array.isArray(value)) return undefined;
  for (const role of value) {
    if (typeof role !== 'string') return undefined;
  }
  return Object.freeze((value as string[]).filter((r) => r.length > 0));
}

export function splitList(value: string): string[] {
  return value.split(/[\s,]+/).filter((r) => r.length > 0);
}

/** A claim by name; a dotted name (`realm.groups`) walks nested objects when no claim has the name itself. */
export function readClaim(claims: Readonly<Record<string, unknown>>, name: string): unknown {
  if (Object.hasOwn(claims, name)) return claims[name];
  if (!name.includes('.')) return undefined;
  let node: unknown = claims;
  for (const part of name.split('.')) {
    if (node === null || typeof node !== 'object' || Array.isArray(node) || !Object.hasOwn(node, part)) {
      return undefined;
    }
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}
