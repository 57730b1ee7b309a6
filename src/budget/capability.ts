// The budget capability: parses the `budget:` section, owns the backend, and
// contributes the `budget` stage and the /budget admin API.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Capability, CapabilityDeps, PartStatus, PreparedChange } from '../decision/capability.js';
import type { StageFactory } from '../decision/stage-registry.js';
import { createBudgetAdmin, type BudgetAdmin } from './admin.js';
import type { BudgetBackend } from './backend.js';
import { parseBudgetConfig, type BudgetConfig } from './config.js';
import type { BudgetCore } from './core.js';
import { checkConfiguredTenants } from './limits-check.js';
import { MemoryBackend } from './memory-backend.js';
import { BudgetMetrics } from './metrics.js';
import { BudgetPlans } from './plan.js';
import { RedisBackend } from './redis-backend.js';
import type { RedisTarget } from './redis-connection.js';
import { budgetStageFactory } from './stage.js';
import { WindowCache } from './windows.js';

export interface BudgetDeps extends CapabilityDeps {
  /** Epoch milliseconds; injected by tests to cross day and month boundaries. */
  readonly clock?: () => number;
  /** Where `admin.token_env` is looked up (default: process.env). */
  readonly env?: NodeJS.ProcessEnv;
}

export class BudgetCapability implements Capability {
  readonly name = 'budget';
  readonly stageFactory: StageFactory;
  readonly admin: BudgetAdmin;
  readonly adminHandler: (req: IncomingMessage, res: ServerResponse) => boolean;
  readonly backend: BudgetBackend;
  private readonly core: BudgetCore;
  private adminToken: string | undefined;

  constructor(config: BudgetConfig, private readonly deps: BudgetDeps) {
    const clock = deps.clock ?? Date.now;
    const log = deps.log.child({ room: 'budget' });
    const metrics = new BudgetMetrics(deps.metrics.registry);
    this.backend = createBackend(config, clock, log, metrics);
    this.core = { config, plans: new BudgetPlans(config), backend: this.backend, metrics, windows: new WindowCache(), clock, log };
    this.adminToken = resolveToken(config, deps.env ?? process.env);
    this.stageFactory = budgetStageFactory(this.core);
    this.admin = createBudgetAdmin(this.core, () => this.adminToken);
    this.adminHandler = (req, res) => this.admin.handle(req, res);
  }

  isReady(): boolean {
    return this.backend.isReady();
  }

  ready(): Promise<void> {
    return this.backend.ready();
  }

  status(): PartStatus {
    const tenants = Object.keys(this.core.config.tenants ?? {}).length;
    const details = { backend: this.backend.name, tenants };
    const reachable = this.backend.isReachable?.() ?? true;
    if (this.backend.isReady() && !reachable) {
      return { state: 'warn', message: 'redis unavailable: budgets are charged locally (on_unavailable=local) until it answers', details };
    }
    if (this.backend.isReady()) {
      return { state: 'ok', message: `${this.backend.name} backend, ${tenants} configured tenant(s)`, details };
    }
    return this.backend.name === 'redis'
      ? { state: 'error', message: 'redis unavailable and on_unavailable=deny: budgeted requests are denied', details }
      : { state: 'not_ready', message: 'loading', details };
  }

  /** Limits, warn_at, client_headers, defaults and the admin token apply live; the backend, Redis and leases need a restart. */
  async prepare(section: unknown): Promise<PreparedChange> {
    const next = parseChecked(section);
    const current = this.core.config;
    for (const key of ['backend', 'redis', 'leases'] as const) {
      if (JSON.stringify(next[key]) !== JSON.stringify(current[key])) {
        throw new Error(`budget.${key} changed; it applies on restart only`);
      }
    }
    const token = resolveToken(next, this.deps.env ?? process.env);
    return {
      commit: () => {
        this.core.config = next;
        this.core.plans.replaceConfig(next);
        this.adminToken = token;
      },
      abort: () => undefined,
    };
  }

  close(): Promise<void> {
    return this.backend.close();
  }
}

function parseChecked(section: unknown): BudgetConfig {
  const config = parseBudgetConfig(section);
  checkConfiguredTenants(config);
  return config;
}

function resolveToken(config: BudgetConfig, env: NodeJS.ProcessEnv): string | undefined {
  if (config.admin?.token !== undefined) return config.admin.token;
  const name = config.admin?.token_env;
  const value = name === undefined ? undefined : env[name];
  return value === undefined || value.length < 16 ? undefined : value;
}

function createBackend(
  config: BudgetConfig,
  clock: () => number,
  log: CapabilityDeps['log'],
  metrics: BudgetMetrics,
): BudgetBackend {
  if (config.backend === 'memory') return new MemoryBackend(clock);
  const r = config.redis;
  const l = config.leases;
  return new RedisBackend({
    target: redisTarget(r),
    keyPrefix: r.key_prefix,
    timeoutMs: r.timeout_ms,
    connectTimeoutMs: r.connect_timeout_ms,
    onUnavailable: r.on_unavailable,
    localFraction: r.local_fraction,
    probeIntervalMs: r.probe_interval_ms,
    maxReplyBytes: r.max_reply_bytes,
    maxBatch: r.max_batch,
    minReplicas: r.min_replicas,
    leases: l.enabled
      ? { fraction: typeof l.slice === 'number' ? l.slice : 0, units: typeof l.slice === 'number' ? 0 : l.slice.units, ttlMs: l.ttl_s * 1000 }
      : undefined,
    clock,
    log,
    metrics,
  });
}

/** One Redis (the default: redis://127.0.0.1:6379), a cluster, or a master behind sentinels. */
function redisTarget(r: BudgetConfig['redis']): RedisTarget {
  if (r.cluster !== undefined) return { kind: 'cluster', nodes: r.cluster.nodes };
  if (r.sentinel !== undefined) {
    const s = r.sentinel;
    return { kind: 'sentinel', masterName: s.master_name, sentinels: s.sentinels, username: s.username, password: s.password, tls: s.tls };
  }
  return { kind: 'single', url: r.url ?? 'redis://127.0.0.1:6379' };
}

/** Parses the `budget:` section (throwing an Error naming every bad path) and creates the capability. */
export function createBudgetCapability(section: unknown, deps: BudgetDeps): BudgetCapability {
  return new BudgetCapability(parseChecked(section), deps);
}
