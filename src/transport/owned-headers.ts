// The headers the sidecar owns: identity and budget headers it sets on an
// allow. A client's copy of any of them is never passed on (an upstream
// trusts these names), whatever the decision set.
const OWNED_PREFIXES = ['x-authz-', 'x-budget-'] as const;

export function isOwnedHeader(lowerCaseName: string): boolean {
  for (const prefix of OWNED_PREFIXES) if (lowerCaseName.startsWith(prefix)) return true;
  return false;
}
