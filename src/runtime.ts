// Builds the decision path from a validated config: identity, stage registry,
// route table, authorizer. A runtime is immutable; hot reload builds a new one
// and swaps it in whole, so a request never sees half of two configs.
import type { LoadedConfig } from './config/load.js';
import { Authorizer } from './decision/authorizer.js';
import { LoadShedder } from './decision/load-shedder.js';
import type { Capability } from './decision/capability.js';
import { compileGrants, RbacStage } from './decision/rbac-stage.js';
import { StageRegistry } from './decision/stage-registry.js';
import { TenantStage } from './decision/tenant-stage.js';
import type { AuthzRequest, Decision } from './decision/types.js';
import { createIdentityService, type IdentityService } from './identity/index.js';
import type { Logger } from './observability/logger.js';
import type { SidecarMetrics } from './observability/metrics.js';
import { compileRoutes } from './request/route-table.js';

export interface DecisionRuntime {
  readonly loaded: LoadedConfig;
  readonly authorizer: Authorizer;
  readonly identity: IdentityService;
  close(): void;
}

export interface RuntimeDeps {
  readonly log: Logger;
  readonly metrics: SidecarMetrics;
  readonly capabilities: readonly Capability[];
  /** False: the decision could not be recorded (see Capability.onDecision). */
  readonly onDecision: (decision: Decision, req: AuthzRequest) => boolean;
  /** False when the audit trail cannot record another decision (then the decision is a deny). */
  readonly canRecord?: () => boolean;
}

/** Throws a clear Error when the config cannot be turned into a working decision path. */
export function buildRuntime(loaded: LoadedConfig, deps: RuntimeDeps): DecisionRuntime {
  const { config } = loaded;
  const registry = new StageRegistry();
  const tenant = new TenantStage();
  const rbac = new RbacStage(compileGrants(config.rbac));
  registry.register({ name: 'tenant', create: () => tenant });
  registry.register({ name: 'rbac', create: () => rbac });
  for (const capability of deps.capabilities) {
    if (capability.stageFactory) registry.register(capability.stageFactory);
  }
  const routes = compileRoutes(config.routes, registry);
  const identity = createIdentityService(config.identity, {
    log: deps.log.child({ room: 'identity' }),
    metrics: deps.metrics,
    baseDir: loaded.baseDir,
  });
  // Each runtime has its own (a reload may change the settings); the counter is shared through the registry.
  const shedder = config.load_shedding.enabled ? new LoadShedder(config.load_shedding, deps.metrics.registry) : undefined;
  const authorizer = new Authorizer({
    routes,
    identity,
    enforcement: config.enforcement,
    deadlineMs: config.deadline_ms,
    metrics: deps.metrics,
    log: deps.log.child({ room: 'decision' }),
    onDecision: deps.onDecision,
    canRecord: deps.canRecord,
    shedder,
  });
  return {
    loaded,
    authorizer,
    identity,
    close: () => {
      shedder?.close();
      identity.close();
    },
  };
}
