// The policy capability: parses the `policy:` section, keeps the bundle
// current through a BundleManager, and contributes the `policy` stage. The
// policy in use lives in one field that a new bundle replaces in a single
// assignment; evaluation is synchronous, so no decision ever sees half a swap.
import type { Capability, CapabilityDeps, PartStatus, PreparedChange } from '../decision/capability.js';
import type { StageFactory } from '../decision/stage-registry.js';
import type { ActivePolicy } from './activation.js';
import { parsePolicyConfig, type PolicyConfig } from './config.js';
import { BundleManager } from './manager.js';
import { PolicyMetrics } from './metrics.js';
import type { PollOutcome } from './sources/http-poller.js';
import { policyStageFactory, type PolicySlot } from './stage.js';

export interface PolicyDeps extends CapabilityDeps {
  /** performance.now()-based clock for deadline checks; injected by tests. */
  readonly now?: () => number;
  /** Where `bundle.bearer_token_env` is looked up (default: process.env). */
  readonly env?: NodeJS.ProcessEnv;
  /** Jitter source for polling and backoff; injected by tests. */
  readonly random?: () => number;
  /** Observes each HTTP poll (tests). */
  readonly onPollAttempt?: (outcome: PollOutcome, nextDelayMs: number, error?: Error) => void;
}

export class PolicyCapability implements Capability, PolicySlot {
  readonly name = 'policy';
  readonly stageFactory: StageFactory;
  private active: ActivePolicy | undefined;
  /** Epoch ms when the policy in use was swapped in. */
  private activatedAt = 0;
  private manager: BundleManager;
  private readonly firstLoad: Promise<void>;
  private markReady!: () => void;
  private markFailed!: (err: Error) => void;
  private readonly metrics: PolicyMetrics;
  private readonly log: CapabilityDeps['log'];

  constructor(
    private config: PolicyConfig,
    private readonly deps: PolicyDeps,
  ) {
    this.log = deps.log.child({ room: 'policy' });
    this.metrics = new PolicyMetrics(deps.metrics.registry);
    this.stageFactory = policyStageFactory({
      slot: this,
      metrics: this.metrics,
      log: this.log,
      now: deps.now ?? (() => performance.now()),
    });
    this.firstLoad = new Promise<void>((resolve, reject) => {
      this.markReady = resolve;
      this.markFailed = reject;
    });
    this.firstLoad.catch(() => undefined);
    const initial = this.newManager(config);
    this.manager = initial;
    initial.start().then(
      (p) => this.adopt(initial, p),
      (err: Error) => {
        if (this.active === undefined) this.markFailed(err);
      },
    );
  }

  /** The policy in use (the stage reads this on every decision). */
  get current(): ActivePolicy | undefined {
    return this.active;
  }

  /** The revision of the bundle in use, or undefined before the first one loaded. */
  revision(): string | undefined {
    return this.active?.revision;
  }

  isReady(): boolean {
    return this.active !== undefined;
  }

  ready(): Promise<void> {
    return this.firstLoad;
  }

  status(): PartStatus {
    const failure = this.manager.lastFailure;
    const origin = this.manager.origin;
    if (this.active === undefined) {
      return { state: 'not_ready', message: failure ? `no bundle yet: ${failure.message}` : `loading ${origin}`, details: { origin } };
    }
    const ageS = Math.max(0, Math.round((Date.now() - this.activatedAt) / 1000));
    const details = { origin, revision: this.active.revision, bundle_age_s: ageS, entrypoint: this.active.defaultEntrypoint.name };
    if (failure !== undefined) {
      return { state: 'warn', message: `bundle ${this.active.revision} in use; the latest load failed: ${failure.message}`, details };
    }
    return { state: 'ok', message: `bundle ${this.active.revision} activated ${ageS} s ago`, details };
  }

  /**
   * A changed `policy:` section builds a new manager and waits for its first
   * bundle; only commit replaces the old one. If that bundle fails, or the
   * reload is refused elsewhere, the new manager is closed and the old one
   * keeps serving and updating.
   */
  async prepare(section: unknown): Promise<PreparedChange> {
    const next = parsePolicyConfig(section);
    const manager = this.newManager(next);
    let first: ActivePolicy;
    try {
      first = await manager.start();
    } catch (err) {
      manager.close();
      throw err;
    }
    return {
      commit: () => {
        const old = this.manager;
        this.manager = manager;
        this.config = next;
        this.adopt(manager, first);
        old.close();
      },
      abort: () => manager.close(),
    };
  }

  close(): Promise<void> {
    this.manager.close();
    return Promise.resolve();
  }

  private newManager(config: PolicyConfig): BundleManager {
    const manager: BundleManager = new BundleManager(
      config,
      {
        log: this.log,
        metrics: this.metrics,
        baseDir: this.deps.baseDir,
        env: this.deps.env,
        random: this.deps.random,
        onPollAttempt: this.deps.onPollAttempt,
      },
      (p) => this.adopt(manager, p),
    );
    return manager;
  }

  /** Swaps in a policy from the manager in charge; a retired manager's late loads are ignored. */
  private adopt(from: BundleManager, policy: ActivePolicy): void {
    if (from !== this.manager) return;
    this.active = policy;
    this.activatedAt = Date.now();
    this.markReady();
  }

  /** The parsed section in use (for diagnostics). */
  get settings(): PolicyConfig {
    return this.config;
  }
}

/** Parses the `policy:` section (throwing an Error naming every bad path) and creates the capability. */
export function createPolicyCapability(section: unknown, deps: PolicyDeps): PolicyCapability {
  return new PolicyCapability(parsePolicyConfig(section), deps);
}
