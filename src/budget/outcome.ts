// Turns a backend's answer into the stage's result: remaining budgets into
// allow headers and ctx.annotations.budget, a refusal into 429 + Retry-After
// + a JSON body naming the budget, an outage into 503 budget_unavailable.
import type { DecisionContext, StageResult } from '../decision/types.js';
import type { ChargeOutcome } from './backend.js';
import type { RouteClass } from './config.js';
import type { BudgetCore } from './core.js';
import type { Meter, MeterSpec, TenantPlan } from './plan.js';
import { formatMicro, fromMicro } from './units.js';
import { retryAfterSeconds } from './windows.js';

export { BUDGET_CLASS_HEADER as CLASS_HEADER, BUDGET_WARNING_HEADER as WARNING_HEADER } from '../decision/owned-headers.js';
import { BUDGET_CLASS_HEADER as CLASS_HEADER, BUDGET_WARNING_HEADER as WARNING_HEADER } from '../decision/owned-headers.js';

/** What the policy stage sees as input.budget and the audit event records. */
export interface BudgetAnnotation {
  readonly tenant: string;
  readonly class: RouteClass;
  /** The request's cost in units. */
  readonly cost: number;
  /** Remaining per budget name after this request (units, or requests for rates). */
  readonly remaining?: Record<string, number>;
  /** Budgets at or past warn_at. */
  readonly warning?: string[];
  /** The budget that refused the request. */
  readonly exhausted?: string;
  readonly retry_after_s?: number;
  /** Set when the shared store could not answer. */
  readonly unavailable?: true;
  /** How the charge was made: memory, redis, lease or local (fallback). */
  readonly via?: string;
}

export function respond(
  core: BudgetCore,
  outcome: ChargeOutcome,
  plan: TenantPlan,
  meters: readonly Meter[],
  costMicro: number,
  cls: RouteClass,
  ctx: DecisionContext,
): StageResult {
  const cost = fromMicro(costMicro);
  if (outcome.kind === 'unavailable') {
    ctx.annotations.budget = { tenant: plan.tenant, class: cls, cost, unavailable: true } satisfies BudgetAnnotation;
    core.metrics.exhausted.inc({ tenant: plan.label, budget: '', reason: 'budget_unavailable' });
    return {
      kind: 'deny',
      status: 503,
      reason: 'budget_unavailable',
      body: JSON.stringify({ error: 'budget store unavailable', reason: 'budget_unavailable', decision_id: ctx.decisionId }),
    };
  }
  if (outcome.kind === 'exhausted') return refuse(core, outcome, plan, meters, cost, cls, ctx);

  const headers: Record<string, string> = { [CLASS_HEADER]: cls };
  const remaining: Record<string, number> = {};
  let warning: string[] | undefined;
  const warnAt = core.config.warn_at;
  for (let i = 0; i < meters.length; i++) {
    const spec = meters[i]!.spec;
    const used = outcome.used[i]!;
    const left = Math.max(0, spec.limit - used);
    remaining[spec.budget] = display(spec, left);
    headers[spec.remainingHeader] = spec.cost ? formatMicro(left) : String(left);
    if (spec.limit > 0 && used >= spec.limit * warnAt) {
      (warning ??= []).push(`${spec.budget} ${Math.min(100, Math.floor((used / spec.limit) * 100))}%`);
      core.metrics.warnings.inc({ tenant: plan.label, budget: spec.budget });
    }
  }
  const annotation: BudgetAnnotation = { tenant: plan.tenant, class: cls, cost, remaining, via: outcome.path };
  if (warning !== undefined) {
    headers[WARNING_HEADER] = warning.join(', ');
    (annotation as { warning?: string[] }).warning = warning.map((w) => w.slice(0, w.indexOf(' ')));
  }
  ctx.annotations.budget = annotation;
  core.metrics.countCharged(plan.label, outcome.path);
  // The client sees what is left too (and the warning) only when asked: budget.client_headers.
  return core.config.client_headers ? { kind: 'allow', headers, responseHeaders: headers } : { kind: 'allow', headers };
}

function refuse(
  core: BudgetCore,
  outcome: Extract<ChargeOutcome, { kind: 'exhausted' }>,
  plan: TenantPlan,
  meters: readonly Meter[],
  cost: number,
  cls: RouteClass,
  ctx: DecisionContext,
): StageResult {
  const meter = meters[outcome.index] ?? meters[0]!;
  const spec = meter.spec;
  const reason = spec.cost ? 'budget_exhausted' : 'rate_limited';
  const retryAfter = retryAfterSeconds(meter.window, core.clock());
  const used = outcome.used[outcome.index] ?? 0;
  ctx.annotations.budget = {
    tenant: plan.tenant, class: cls, cost, exhausted: spec.budget, retry_after_s: retryAfter,
  } satisfies BudgetAnnotation;
  core.metrics.exhausted.inc({ tenant: plan.label, budget: spec.budget, reason });
  const body = {
    error: spec.cost ? `budget ${spec.budget} exhausted` : `rate limit ${spec.budget} reached`,
    reason,
    budget: spec.budget,
    tenant: plan.tenant,
    class: cls,
    limit: display(spec, spec.limit),
    used: display(spec, used),
    cost: spec.cost ? cost : 1,
    retry_after_s: retryAfter,
    resets_at: new Date(meter.window.end).toISOString(),
    decision_id: ctx.decisionId,
  };
  return {
    kind: 'deny',
    status: 429,
    reason,
    headers: { 'retry-after': String(retryAfter), [CLASS_HEADER]: cls },
    body: JSON.stringify(body),
  };
}

/** Requests as they are; micro-units as units. */
function display(spec: MeterSpec, value: number): number {
  return spec.cost ? fromMicro(value) : value;
}
