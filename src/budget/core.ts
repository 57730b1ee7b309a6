// What every budget stage of one capability shares: the live config, the
// plans, the backend, the window cache, the clock and the metrics. Stages
// read it at evaluation time, so a reload reaches routes already built.
import type { Logger } from '../observability/logger.js';
import type { BudgetBackend } from './backend.js';
import type { BudgetConfig } from './config.js';
import type { BudgetMetrics } from './metrics.js';
import type { BudgetPlans } from './plan.js';
import type { WindowCache } from './windows.js';

export interface BudgetCore {
  config: BudgetConfig;
  readonly plans: BudgetPlans;
  readonly backend: BudgetBackend;
  readonly metrics: BudgetMetrics;
  readonly windows: WindowCache;
  readonly clock: () => number;
  readonly log: Logger;
}
