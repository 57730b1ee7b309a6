// Checks that only make sense once defaults and a tenant's own limits are
// merged: a daily limit above the monthly one could never be reached.
import type { BudgetConfig, Limits, TenantLimits } from './config.js';
import { mergeLimits } from './plan.js';

export function checkMergedLimits(limits: TenantLimits, where: string): void {
  const problems: string[] = [];
  const check = (l: Limits | undefined, path: string) => {
    if (l?.daily !== undefined && l.monthly !== undefined && l.daily > l.monthly) {
      problems.push(`${path}.daily: ${l.daily} exceeds monthly ${l.monthly} (it could never be reached)`);
    }
  };
  check(limits, where);
  check(limits.classes?.realtime, `${where}.classes.realtime`);
  check(limits.classes?.bulk, `${where}.classes.bulk`);
  check(limits.per_principal, `${where}.per_principal`);
  if (problems.length > 0) throw new Error(problems.join('; '));
}

/** Every configured tenant, merged with the defaults, must be consistent. */
export function checkConfiguredTenants(config: BudgetConfig): void {
  for (const [tenant, own] of Object.entries(config.tenants)) {
    checkMergedLimits(mergeLimits(config.defaults, own), `budget.tenants.${tenant} (with budget.defaults)`);
  }
}
