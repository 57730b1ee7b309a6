// The `budget:` config section and the budget stage's route options. Every
// refusal names the path that is wrong (`budget.tenants.acme.daily: ...`).
import { z } from 'zod';
import { MAX_UNITS } from './units.js';
import { parseSection } from '../config/parse-section.js';

const units = z
  .number({ error: 'must be a number (units, e.g. USD)' })
  .min(0, { error: 'must not be negative' })
  .max(MAX_UNITS, { error: `must be at most ${MAX_UNITS}` });

const requests = z
  .number({ error: 'must be a whole number of requests' })
  .int({ error: 'must be a whole number of requests' })
  .min(0, { error: 'must not be negative' })
  .max(1e12, { error: 'is unreasonably large' });

/** One set of limits. An absent limit is unlimited; 0 admits nothing. */
export const limitsSchema = z
  .object({
    /** Requests per second (fixed window aligned to the UTC second). */
    rps: requests.optional(),
    /** Requests per minute. */
    rpm: requests.optional(),
    /** Cost units per UTC day. */
    daily: units.optional(),
    /** Cost units per UTC calendar month. */
    monthly: units.optional(),
  })
  .strict();

// A daily limit above the monthly one can never be reached: almost always a
// typo (a missing zero), so it is refused rather than silently capped.
const dailyWithinMonthly = (l: { daily?: number | undefined; monthly?: number | undefined }) =>
  l.daily === undefined || l.monthly === undefined || l.daily <= l.monthly;
const dailyWithinMonthlyIssue = { error: 'daily must not exceed monthly (it could never be reached)', path: ['daily'] };

export const routeClasses = ['realtime', 'bulk'] as const;
export type RouteClass = (typeof routeClasses)[number];

export const tenantLimitsSchema = limitsSchema
  .extend({
    /** Extra limits for requests of one route class, on top of the tenant's own. */
    classes: z
      .object({
        realtime: limitsSchema.refine(dailyWithinMonthly, dailyWithinMonthlyIssue).optional(),
        bulk: limitsSchema.refine(dailyWithinMonthly, dailyWithinMonthlyIssue).optional(),
      })
      .strict()
      .optional(),
    /** Limits for each principal of the tenant, on top of the tenant's own. */
    per_principal: limitsSchema.refine(dailyWithinMonthly, dailyWithinMonthlyIssue).optional(),
  })
  .strict()
  .refine(dailyWithinMonthly, dailyWithinMonthlyIssue);

export type Limits = z.infer<typeof limitsSchema>;
export type TenantLimits = z.infer<typeof tenantLimitsSchema>;

const redisSchema = z
  .object({
    url: z.string().regex(/^rediss?:\/\//, { error: 'must be a redis:// or rediss:// URL' }).default('redis://127.0.0.1:6379'),
    /** Every key starts with this; the tenant follows in a hash tag so one tenant's keys share a cluster slot. */
    key_prefix: z.string().default('authz:budget:'),
    /** Deadline of each Redis call on the decision path. */
    timeout_ms: z.number().int().positive().max(60_000).default(5),
    /** How long startup waits for the first connection. */
    connect_timeout_ms: z.number().int().positive().default(2000),
    /** When Redis cannot answer: deny (503 budget_unavailable) or charge locally and reconcile later. */
    on_unavailable: z.enum(['deny', 'local']).default('deny'),
    /** Under `local`, the share of each limit one sidecar may spend on its own per window. */
    local_fraction: z.number().gt(0).max(1).default(1),
    /** How often an unreachable Redis is probed. */
    probe_interval_ms: z.number().int().positive().default(500),
  })
  .strict()
  .prefault({});

const leasesSchema = z
  .object({
    enabled: z.boolean().default(false),
    /**
     * How much a sidecar takes per grant: a fraction (0, 1] of what remains
     * in the window, or `{ units: N }` (cost units, or requests for rps/rpm).
     */
    slice: z
      .union([
        z.number().gt(0, { error: 'a fraction must be in (0, 1]' }).max(1, { error: 'a fraction must be in (0, 1]' }),
        z.object({ units: z.number().positive() }).strict(),
      ])
      .default(0.1),
    /** A lease's unused part returns to Redis after this long (or at its window's end). */
    ttl_s: z.number().positive().max(3600).default(10),
  })
  .strict()
  .prefault({});

export const budgetConfigSchema = z
  .object({
    backend: z.enum(['memory', 'redis']).default('memory'),
    redis: redisSchema,
    leases: leasesSchema,
    /** Fraction of a budget from which allowed requests carry `x-budget-warning`. */
    warn_at: z.number().gt(0).max(1).default(0.9),
    admin: z
      .object({
        /** Bearer token for /budget/... on the admin port. */
        token: z.string().min(16, { error: 'must be at least 16 characters' }).optional(),
        /** Or the name of an environment variable holding it. */
        token_env: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    /** Limits for tenants not listed, and the base each listed tenant's own fields override. */
    defaults: tenantLimitsSchema.optional(),
    tenants: z.record(z.string().min(1), tenantLimitsSchema).default({}),
  })
  .strict()
  .refine((c) => !c.leases.enabled || c.backend === 'redis', {
    error: 'leases need backend: redis (a single sidecar has nothing to share)',
    path: ['leases', 'enabled'],
  });

export type BudgetConfig = z.infer<typeof budgetConfigSchema>;

export const budgetRouteOptionsSchema = z
  .object({
    /** Fixed cost of one request, in units (default 1). With cost_header: the cost when the header is absent. */
    cost: units.optional(),
    /** A request header carrying the cost estimate (a plain decimal). */
    cost_header: z
      .string()
      .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, { error: 'must be a header name' })
      .transform((h) => h.toLowerCase())
      .optional(),
    class: z.enum(routeClasses).default('realtime'),
    /** Apply the tenant's per_principal limits on this route (default: yes, when configured). */
    per_principal: z.boolean().default(true),
  })
  .strict();

export type BudgetRouteOptions = z.infer<typeof budgetRouteOptionsSchema>;

export function parseBudgetConfig(section: unknown): BudgetConfig {
  return parseSection(budgetConfigSchema, section, 'budget');
}
