// Which counters one request touches: the tenant's own limits, its route
// class's, and (optionally) its principal's, each as a MeterSpec resolved
// once per tenant and class and cached; per request only the window and the
// amount are filled in.
import type { BudgetConfig, Limits, RouteClass, TenantLimits } from './config.js';
import { BUDGET_REMAINING_PREFIX } from '../decision/owned-headers.js';
import { toMicro } from './units.js';
import type { Window, WindowCache, WindowKind } from './windows.js';

export type MeterKind = 'rps' | 'rpm' | 'daily' | 'monthly';

const METER_KINDS: readonly MeterKind[] = ['rps', 'rpm', 'daily', 'monthly'];
const WINDOW_OF: Readonly<Record<MeterKind, WindowKind>> = { rps: 'second', rpm: 'minute', daily: 'day', monthly: 'month' };

export interface MeterSpec {
  /** The budget's public name: `daily`, `bulk.daily`, `principal.rpm`. */
  readonly budget: string;
  readonly kind: MeterKind;
  readonly window: WindowKind;
  /** Requests for rps/rpm; micro-units for daily/monthly. */
  readonly limit: number;
  /** True for cost budgets (charged the request's cost), false for rate limits (charged 1). */
  readonly cost: boolean;
  /** Key segment between the tenant and the kind: '', 'bulk:' or 'p:' (the principal id follows). */
  readonly scope: string;
  readonly perPrincipal: boolean;
  readonly remainingHeader: string;
}

/** One counter to check and charge for one request. */
export interface Meter {
  readonly spec: MeterSpec;
  /** Backend key without the backend's own prefix: `{acme}:bulk:daily:1735689600000`. */
  readonly key: string;
  readonly window: Window;
  /** Requests (1) or micro-units. */
  readonly amount: number;
}

export interface TenantPlan {
  readonly tenant: string;
  /** Metrics label: the tenant when it is configured, `_default` otherwise (bounded cardinality). */
  readonly label: string;
  readonly specs: readonly MeterSpec[];
  readonly hasPerPrincipal: boolean;
}

/** Defaults, overridden field by field by the tenant's own entry. */
export function mergeLimits(defaults: TenantLimits | undefined, own: TenantLimits | undefined): TenantLimits {
  const d = defaults ?? {};
  const t = own ?? {};
  const merged: TenantLimits = { ...pickLimits(d), ...pickLimits(t) };
  const realtime = mergeOptional(d.classes?.realtime, t.classes?.realtime);
  const bulk = mergeOptional(d.classes?.bulk, t.classes?.bulk);
  if (realtime !== undefined || bulk !== undefined) {
    merged.classes = {};
    if (realtime !== undefined) merged.classes.realtime = realtime;
    if (bulk !== undefined) merged.classes.bulk = bulk;
  }
  const pp = mergeOptional(d.per_principal, t.per_principal);
  if (pp !== undefined) merged.per_principal = pp;
  return merged;
}

function pickLimits(l: Limits): Limits {
  const out: Limits = {};
  for (const k of METER_KINDS) if (l[k] !== undefined) out[k] = l[k];
  return out;
}

function mergeOptional(a: Limits | undefined, b: Limits | undefined): Limits | undefined {
  if (a === undefined && b === undefined) return undefined;
  return { ...pickLimits(a ?? {}), ...pickLimits(b ?? {}) };
}

function specsFor(limits: Limits | undefined, prefix: string, scope: string, perPrincipal: boolean, out: MeterSpec[]): void {
  if (limits === undefined) return;
  for (const kind of METER_KINDS) {
    const value = limits[kind];
    if (value === undefined) continue;
    const cost = kind === 'daily' || kind === 'monthly';
    const budget = `${prefix}${kind}`;
    out.push({
      budget,
      kind,
      window: WINDOW_OF[kind],
      limit: cost ? toMicro(value) : value,
      cost,
      scope,
      perPrincipal,
      remainingHeader: `${BUDGET_REMAINING_PREFIX}${budget.replace('.', '-')}`,
    });
  }
}

const MAX_CACHED_PLANS = 10_000;

/**
 * Effective limits per tenant (config, then admin overrides) and the plans
 * built from them. Admin overrides live until the config section changes.
 */
export class BudgetPlans {
  /** Plans by tenant, one map per (class, per-principal): a lookup builds no key string. */
  private readonly cache = new Map<RouteClass, [Map<string, TenantPlan | null>, Map<string, TenantPlan | null>]>();
  private cachedPlans = 0;
  private readonly overrides = new Map<string, TenantLimits>();
  /** The plan answered last: consecutive requests are mostly the same tenant and class (cleared with the cache). */
  private last: { tenant: string; cls: RouteClass; perPrincipal: boolean; plan: TenantPlan | null } | undefined;

  constructor(private config: BudgetConfig) {}

  replaceConfig(config: BudgetConfig): void {
    this.config = config;
    this.overrides.clear();
    this.clearCache();
  }

  private clearCache(): void {
    this.cache.clear();
    this.cachedPlans = 0;
    this.last = undefined;
  }

  setLimits(tenant: string, limits: TenantLimits): void {
    this.overrides.set(tenant, limits);
    this.clearCache();
  }

  isConfigured(tenant: string): boolean {
    return this.overrides.has(tenant) || Object.hasOwn(this.config.tenants, tenant);
  }

  /** The tenant's effective limits, or undefined when it is unknown and there are no defaults. */
  limitsOf(tenant: string): TenantLimits | undefined {
    const own = this.overrides.get(tenant) ?? (Object.hasOwn(this.config.tenants, tenant) ? this.config.tenants[tenant] : undefined);
    if (own === undefined && this.config.defaults === undefined) return undefined;
    return mergeLimits(this.config.defaults, own);
  }

  get(tenant: string, cls: RouteClass, perPrincipal: boolean): TenantPlan | undefined {
    const last = this.last;
    if (last !== undefined && last.tenant === tenant && last.cls === cls && last.perPrincipal === perPrincipal) return last.plan ?? undefined;
    const plan = this.lookup(tenant, cls, perPrincipal);
    this.last = { tenant, cls, perPrincipal, plan: plan ?? null };
    return plan;
  }

  private lookup(tenant: string, cls: RouteClass, perPrincipal: boolean): TenantPlan | undefined {
    let byClass = this.cache.get(cls);
    if (byClass === undefined) this.cache.set(cls, (byClass = [new Map(), new Map()]));
    const cached = byClass[perPrincipal ? 1 : 0].get(tenant);
    if (cached !== undefined) return cached ?? undefined;
    const limits = this.limitsOf(tenant);
    let plan: TenantPlan | null = null;
    if (limits !== undefined) {
      const specs: MeterSpec[] = [];
      specsFor(limits, '', '', false, specs);
      specsFor(limits.classes?.[cls], `${cls}.`, `${cls}:`, false, specs);
      const pp = perPrincipal ? limits.per_principal : undefined;
      specsFor(pp, 'principal.', 'p:', true, specs);
      plan = { tenant, label: this.isConfigured(tenant) ? tenant : '_default', specs, hasPerPrincipal: pp !== undefined };
    }
    if (this.cachedPlans >= MAX_CACHED_PLANS) {
      this.clearCache();
      this.cache.set(cls, (byClass = [new Map(), new Map()]));
    }
    byClass[perPrincipal ? 1 : 0].set(tenant, plan);
    this.cachedPlans++;
    return plan ?? undefined;
  }

  /** Every spec of a tenant (both classes, per-principal too), for the admin API. */
  allSpecs(tenant: string): MeterSpec[] {
    const limits = this.limitsOf(tenant);
    if (limits === undefined) return [];
    const specs: MeterSpec[] = [];
    specsFor(limits, '', '', false, specs);
    specsFor(limits.classes?.realtime, 'realtime.', 'realtime:', false, specs);
    specsFor(limits.classes?.bulk, 'bulk.', 'bulk:', false, specs);
    specsFor(limits.per_principal, 'principal.', 'p:', true, specs);
    return specs;
  }
}

/** The counter key of one spec for one request (or admin read) at `window`. */
export function meterKey(tenant: string, spec: MeterSpec, principal: string, window: Window): string {
  const who = spec.perPrincipal ? `${principal}:` : '';
  return `{${tenant}}:${spec.scope}${who}${spec.kind}:${window.start}`;
}

/**
 * The last key built per (plan's tenant, spec) that does not depend on the
 * principal, until its window rolls over. Reusing the same string object
 * per window spares a concatenation per counter per request and lets the
 * counter map find it by the hash V8 keeps on the string (a fresh string is
 * hashed again on every lookup).
 */
const sharedKeys = new WeakMap<MeterSpec, { tenant: string; start: number; key: string }>();

function keyFor(tenant: string, spec: MeterSpec, principal: string, window: Window): string {
  if (spec.perPrincipal) return meterKey(tenant, spec, principal, window);
  const last = sharedKeys.get(spec);
  if (last !== undefined && last.start === window.start && last.tenant === tenant) return last.key;
  const key = meterKey(tenant, spec, principal, window);
  sharedKeys.set(spec, { tenant, start: window.start, key });
  return key;
}

export function buildMeters(
  plan: TenantPlan,
  principal: string,
  costMicro: number,
  now: number,
  windows: WindowCache,
): Meter[] {
  const meters: Meter[] = new Array<Meter>(plan.specs.length);
  for (let i = 0; i < plan.specs.length; i++) {
    const spec = plan.specs[i]!;
    const window = windows.at(spec.window, now);
    meters[i] = { spec, key: keyFor(plan.tenant, spec, principal, window), window, amount: spec.cost ? costMicro : 1 };
  }
  return meters;
}
