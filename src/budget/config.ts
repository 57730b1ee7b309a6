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

const redisUrl = z.string().regex(/^rediss?:\/\//, { error: 'must be a redis:// or rediss:// URL' });

/** The 16,384-slot Redis Cluster: a few seed nodes; ioredis discovers the rest (and follows failovers). */
const clusterSchema = z
  .object({
    /** Seed nodes as redis:// or rediss:// URLs; the first one's scheme and credentials apply to every node. */
    nodes: z.array(redisUrl).min(1, { error: 'must list at least one node' }).max(64),
  })
  .strict();

/** A master found through Redis Sentinel, re-resolved by ioredis on failover. */
const sentinelSchema = z
  .object({
    /** The master's name as the sentinels know it (`sentinel monitor <name> ...`). */
    master_name: z.string().min(1),
    /** Sentinels as redis:// or rediss:// URLs; credentials in a URL are the sentinels' own. */
    sentinels: z.array(redisUrl).min(1, { error: 'must list at least one sentinel' }).max(16),
    /** Credentials of the master and its replicas (the sentinels' are in their URLs). */
    username: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    /** TLS to the master and replicas. */
    tls: z.boolean().default(false),
  })
  .strict();

const MiB = 1024 * 1024;

const redisSchema = z
  .object({
    /** A single Redis (the default when neither cluster nor sentinel is set: redis://127.0.0.1:6379). */
    url: redisUrl.optional(),
    cluster: clusterSchema.optional(),
    sentinel: sentinelSchema.optional(),
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
    /**
     * The largest reply the sidecar reads from Redis; a larger one (or one
     * announcing more) drops the connection. Our own replies are a few KiB.
     */
    max_reply_bytes: z.number().int().min(4096).max(512 * MiB).default(MiB),
    /** Charges carried by one script call at most (concurrent decisions of a tenant are batched; 1 = one call each). */
    max_batch: z.number().int().min(1).max(1024).default(64),
    /**
     * Allow a charge only once this many replicas have it (Redis WAIT after
     * each script call), so a failover to one of them cannot lose it. 0: off.
     */
    min_replicas: z.number().int().min(0).max(16).default(0),
  })
  .strict()
  .refine((r) => [r.url, r.cluster, r.sentinel].filter((x) => x !== undefined).length <= 1, {
    error: 'set one of url, cluster or sentinel',
  })
  // The tenant's hash tag must be the key's first: a brace in the prefix
  // would decide the slot instead and scatter or pile up tenants.
  .refine((r) => r.cluster === undefined || r.min_replicas === 0, {
    error: 'is not supported with a cluster yet (WAIT would not follow a MOVED script call)',
    path: ['min_replicas'],
  })
  .refine((r) => r.cluster === undefined || !/[{}]/.test(r.key_prefix), {
    error: 'must not contain { or } with a cluster (the tenant\'s {hash tag} places its keys)',
    path: ['key_prefix'],
  })
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
    /**
     * Also add the allowed answer's x-budget-* headers to the client's
     * response (they always go to the upstream). Off by default: a tenant's
     * remaining budgets are the operator's and the upstream's business, and
     * each header is written twice per decision otherwise.
     */
    client_headers: z.boolean().default(false),
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
