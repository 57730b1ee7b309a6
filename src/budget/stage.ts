// The `budget` stage: charge the request's cost (and one request against the
// rate limits) to its tenant, class and principal, or refuse it. It answers
// synchronously on the memory backend, on a lease hit and during a known
// Redis outage; only a Redis round trip returns a promise.
import type { AuthzRequest, DecisionContext, Stage, StageResult } from '../decision/types.js';
import type { StageFactory } from '../decision/stage-registry.js';
import { isPromise } from './backend.js';
import { budgetRouteOptionsSchema, type RouteClass } from './config.js';
import type { BudgetCore } from './core.js';
import { respond, CLASS_HEADER } from './outcome.js';
import { buildMeters } from './plan.js';
import { parseCostMicro, toMicro } from './units.js';
import { parseSection } from '../config/parse-section.js';

class BudgetStage implements Stage {
  readonly name = 'budget';
  private readonly classHeaders: Readonly<Record<string, string>>;

  constructor(
    private readonly core: BudgetCore,
    private readonly cls: RouteClass,
    private readonly perPrincipal: boolean,
    /** Micro-units; undefined when only the header may give the cost. */
    private readonly fixedCost: number | undefined,
    private readonly costHeader: string | undefined,
  ) {
    this.classHeaders = { [CLASS_HEADER]: cls };
  }

  evaluate(req: AuthzRequest, ctx: DecisionContext): StageResult | Promise<StageResult> {
    const tenant = ctx.principal.tenant ?? ctx.resource.tenant;
    if (tenant === undefined || tenant === '') return { kind: 'deny', status: 403, reason: 'budget_no_tenant' };
    const plan = this.core.plans.get(tenant, this.cls, this.perPrincipal);
    if (plan === undefined) return { kind: 'deny', status: 403, reason: 'budget_unknown_tenant' };
    let cost = this.fixedCost;
    if (this.costHeader !== undefined) {
      const raw = req.headers[this.costHeader];
      if (raw !== undefined) cost = parseCostMicro(raw);
      if (cost === undefined) {
        return {
          kind: 'deny',
          status: 403,
          reason: 'bad_cost',
          body: JSON.stringify({
            error: `header ${this.costHeader} must be a non-negative decimal cost`,
            reason: 'bad_cost',
            decision_id: ctx.decisionId,
          }),
        };
      }
    }
    const costMicro = cost ?? 0;
    if (plan.specs.length === 0) return { kind: 'allow', headers: this.classHeaders };
    const now = this.core.clock();
    const meters = buildMeters(plan, ctx.principal.id, costMicro, now, this.core.windows);
    const outcome = this.core.backend.charge(meters, now);
    if (isPromise(outcome)) return outcome.then((o) => respond(this.core, o, plan, meters, costMicro, this.cls, ctx));
    return respond(this.core, outcome, plan, meters, costMicro, this.cls, ctx);
  }
}

/** A route without `cost` or `cost_header` costs one unit per request. */
const DEFAULT_COST = 1;

export function budgetStageFactory(core: BudgetCore): StageFactory {
  return {
    name: 'budget',
    create(options: unknown): Stage {
      const opts = parseSection(budgetRouteOptionsSchema, options, 'options');
      const fixed = opts.cost ?? (opts.cost_header === undefined ? DEFAULT_COST : undefined);
      return new BudgetStage(core, opts.class, opts.per_principal, fixed === undefined ? undefined : toMicro(fixed),
        opts.cost_header);
    },
  };
}
