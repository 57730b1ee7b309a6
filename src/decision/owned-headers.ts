// The headers the sidecar owns: the one registry every transport uses.
//
// An upstream trusts these names because they come from us (who the caller
// is, their tenant and roles, a warn-mode warning, budget state). So on every
// allow each owned name is either set by this decision or removed from the
// request before it reaches the upstream — a client-sent `x-authz-principal`
// must never survive just because this decision had nothing to say under that
// name (an anonymous route, a principal without roles, a route without a
// budget stage). gRPC says so in OkHttpResponse.headers_to_remove, HTTP
// ext_authz in `x-envoy-auth-headers-to-remove`, the inline proxy strips them.
//
// Owned means: a name listed here, or any name under an owned prefix
// (`x-authz-…`, `x-budget-…`, e.g. the per-budget `x-budget-remaining-<name>`).

export const PRINCIPAL_HEADER = 'x-authz-principal';
export const TENANT_HEADER = 'x-authz-tenant';
export const ROLES_HEADER = 'x-authz-roles';
export const WARNING_HEADER = 'x-authz-warning';
export const DECISION_ID_HEADER = 'x-authz-decision-id';
export const BUDGET_CLASS_HEADER = 'x-budget-class';
export const BUDGET_WARNING_HEADER = 'x-budget-warning';
/** Followed by the budget's name, `.` replaced by `-` (e.g. x-budget-remaining-daily). */
export const BUDGET_REMAINING_PREFIX = 'x-budget-remaining-';

/** Every owned name is under one of these. */
export const OWNED_HEADER_PREFIXES: readonly string[] = ['x-authz-', 'x-budget-'];

/** The names a decision may set; each one it does not set is removed. */
export const OWNED_HEADERS: readonly string[] = [
  PRINCIPAL_HEADER,
  TENANT_HEADER,
  ROLES_HEADER,
  WARNING_HEADER,
  DECISION_ID_HEADER,
  BUDGET_CLASS_HEADER,
  BUDGET_WARNING_HEADER,
];

/** Whether a lower-case header name is ours. */
export function isOwnedHeader(name: string): boolean {
  // Cheap reject first: every owned name starts with "x-".
  if (name.charCodeAt(0) !== 0x78 || name.charCodeAt(1) !== 0x2d) return false;
  for (let i = 0; i < OWNED_HEADER_PREFIXES.length; i++) if (name.startsWith(OWNED_HEADER_PREFIXES[i]!)) return true;
  return false;
}

/** Owned names to remove from the upstream request, and the same joined with ',' (HTTP ext_authz's form). */
export interface OwnedRemovals {
  readonly names: readonly string[];
  readonly joined: string;
}

// One list per combination of OWNED_HEADERS a decision sets: built once, so
// the common allow allocates nothing here.
const byMask: Array<OwnedRemovals | undefined> = [];

/**
 * The owned names an allow must remove: each of OWNED_HEADERS that `set` does
 * not set, plus each owned name the request carries (`requestHeaders`, lower-case
 * names) that `set` does not set — e.g. a client-sent `x-budget-remaining-x`.
 */
export function ownedHeadersToRemove(
  set: Readonly<Record<string, string>>,
  requestHeaders?: ReadonlyArray<readonly [string, string]>,
): OwnedRemovals {
  let mask = 0;
  for (let i = 0; i < OWNED_HEADERS.length; i++) if (set[OWNED_HEADERS[i]!] !== undefined) mask |= 1 << i;
  const base = (byMask[mask] ??= removals(OWNED_HEADERS.filter((_, i) => (mask & (1 << i)) === 0)));
  if (requestHeaders === undefined) return base;
  let extra: string[] | undefined;
  for (let i = 0; i < requestHeaders.length; i++) {
    const name = requestHeaders[i]![0];
    if (!isOwnedHeader(name) || Object.hasOwn(set, name)) continue;
    const names = extra ?? base.names;
    if (names.includes(name)) continue;
    (extra ??= base.names.slice()).push(name);
  }
  return extra === undefined ? base : removals(extra);
}

function removals(names: readonly string[]): OwnedRemovals {
  return { names, joined: names.join(',') };
}
