// The budget room's public surface: what the sidecar assembly wires in.
export { createBudgetCapability, BudgetCapability, type BudgetDeps } from './capability.js';
export type { BudgetAdmin } from './admin.js';
export {
  budgetConfigSchema,
  budgetRouteOptionsSchema,
  parseBudgetConfig,
  type BudgetConfig,
  type BudgetRouteOptions,
  type Limits,
  type TenantLimits,
  type RouteClass,
} from './config.js';
export type { BudgetAnnotation } from './outcome.js';
export { CLASS_HEADER, WARNING_HEADER } from './outcome.js';
