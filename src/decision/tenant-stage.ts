// Tenant isolation: the caller's tenant must be the resource's tenant. No role
// crosses tenants — not even admin.
import type { AuthzRequest, DecisionContext, Stage, StageResult } from './types.js';

const ALLOW: StageResult = Object.freeze({ kind: 'allow' });
const NO_TENANT: StageResult = Object.freeze({ kind: 'deny', status: 403, reason: 'no_tenant' });
const MISMATCH: StageResult = Object.freeze({ kind: 'deny', status: 403, reason: 'tenant_mismatch' });

export class TenantStage implements Stage {
  readonly name = 'tenant';

  evaluate(_req: AuthzRequest, ctx: DecisionContext): StageResult {
    const own = ctx.principal.tenant;
    const target = ctx.resource.tenant;
    if (own === undefined || own === '' || target === undefined || target === '') return NO_TENANT;
    return own === target ? ALLOW : MISMATCH;
  }
}
