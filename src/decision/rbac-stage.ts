// Role-based access: roles → resource type → actions, from config. Compiled
// once into sets so a check is a few hash lookups.
import type { RbacConfig } from '../config/schema.js';
import type { AuthzRequest, DecisionContext, Stage, StageResult } from './types.js';

const ALLOW: StageResult = Object.freeze({ kind: 'allow' });
const DENIED: StageResult = Object.freeze({ kind: 'deny', status: 403, reason: 'rbac_denied' });
const WILDCARD = '*';

/** role → (resource type | '*') → set of actions (may contain '*'). */
type Grants = ReadonlyMap<string, ReadonlyMap<string, ReadonlySet<string>>>;

export function compileGrants(config: RbacConfig): Grants {
  const grants = new Map<string, Map<string, Set<string>>>();
  for (const [role, byType] of Object.entries(config.roles)) {
    const types = new Map<string, Set<string>>();
    for (const [type, actions] of Object.entries(byType)) types.set(type, new Set(actions));
    grants.set(role, types);
  }
  return grants;
}

export function roleAllows(grants: Grants, role: string, resourceType: string, action: string): boolean {
  const types = grants.get(role);
  if (types === undefined) return false;
  return (
    permits(types.get(resourceType), action) || permits(types.get(WILDCARD), action)
  );
}

function permits(actions: ReadonlySet<string> | undefined, action: string): boolean {
  return actions !== undefined && (actions.has(action) || actions.has(WILDCARD));
}

export class RbacStage implements Stage {
  readonly name = 'rbac';

  constructor(private readonly grants: Grants) {}

  evaluate(_req: AuthzRequest, ctx: DecisionContext): StageResult {
    const roles = ctx.principal.roles;
    for (let i = 0; i < roles.length; i++) {
      if (roleAllows(this.grants, roles[i]!, ctx.resource.type, ctx.action)) return ALLOW;
    }
    return DENIED;
  }
}
