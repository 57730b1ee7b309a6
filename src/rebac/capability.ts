// The rebac capability: parses the `rebac:` section, owns the checker
// (embedded engine or remote OpenFGA with its cache and change feed) and
// contributes the `rebac` stage. A reload builds a whole new checker beside
// the current one and swaps both checker and stage factory on commit.
import path from 'node:path';
import type { Capability, CapabilityDeps, PartStatus, PreparedChange } from '../decision/capability.js';
import type { StageFactory } from '../decision/stage-registry.js';
import type { Logger } from '../observability/logger.js';
import type { RebacChecker } from './checker.js';
import { parseRebacConfig } from './config.js';
import type { RebacConfig } from './config.js';
import { EmbeddedChecker } from './embedded-checker.js';
import { RebacMetrics } from './metrics.js';
import { RemoteChecker } from './remote/remote-checker.js';
import { rebacStageFactory } from './stage/rebac-stage.js';
import { SubjectMapper } from './subject.js';

export interface RebacDeps extends CapabilityDeps {
  /** Where FGA_* secrets are looked up (default: process.env). */
  readonly env?: NodeJS.ProcessEnv;
}

export class RebacCapability implements Capability {
  readonly name = 'rebac';
  private current: { config: RebacConfig; checker: RebacChecker; stageFactory: StageFactory };
  private readonly log: Logger;
  // Registered once: a second RebacMetrics on the same registry would throw.
  private readonly metrics: RebacMetrics;

  constructor(config: RebacConfig, private readonly deps: RebacDeps) {
    this.log = deps.log.child({ room: 'rebac' });
    this.metrics = new RebacMetrics(deps.metrics.registry);
    this.current = this.assemble(config);
  }

  get config(): RebacConfig {
    return this.current.config;
  }

  get checker(): RebacChecker {
    return this.current.checker;
  }

  get stageFactory(): StageFactory {
    return this.current.stageFactory;
  }

  isReady(): boolean {
    return this.current.checker.isReady();
  }

  ready(): Promise<void> {
    return this.current.checker.ready();
  }

  status(): PartStatus {
    const { checker } = this.current;
    const modelId = checker.modelId() ?? null;
    const breaker = checker.breakerState?.();
    const details = { mode: checker.mode, model_id: modelId, ...(breaker ? { breaker } : {}) };
    if (!checker.isReady()) return { state: 'not_ready', message: `loading the ${checker.mode} authorization model`, details };
    if (breaker === 'open') return { state: 'error', message: `OpenFGA circuit breaker open: rebac checks are denied (model ${modelId})`, details };
    if (breaker === 'half-open') return { state: 'warn', message: `OpenFGA circuit breaker half-open, probing (model ${modelId})`, details };
    return { state: 'ok', message: `${checker.mode} model ${modelId}`, details };
  }

  /** A new checker (model and tuples loaded, or OpenFGA's model read) ready before anything swaps. */
  async prepare(section: unknown): Promise<PreparedChange> {
    const config = parseRebacConfig(section, this.deps.env ?? process.env);
    const next = this.assembleOrExplain(config);
    try {
      await next.checker.ready();
    } catch (err) {
      await next.checker.close();
      throw err;
    }
    return {
      stageFactory: next.stageFactory,
      commit: () => {
        const old = this.current.checker;
        this.current = next;
        // In-flight checks of the old checker still finish: close only stops its watchers and feed.
        void old.close().catch((err: unknown) => this.log.warn({ err: String(err) }, 'rebac: closing the replaced checker failed'));
      },
      abort: () => void next.checker.close().catch(() => undefined),
    };
  }

  close(): Promise<void> {
    return this.current.checker.close();
  }

  /** Same as assemble, with the capability's name on the error (as at start). */
  private assembleOrExplain(config: RebacConfig): RebacCapability['current'] {
    try {
      return this.assemble(config);
    } catch (err) {
      throw new Error(`rebac: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }

  private assemble(config: RebacConfig): RebacCapability['current'] {
    let checker: RebacChecker;
    if (config.mode === 'remote') {
      checker = new RemoteChecker({ config: config.remote!, log: this.log, metrics: this.metrics });
    } else {
      const e = config.embedded;
      checker = new EmbeddedChecker({
        modelPath: path.resolve(this.deps.baseDir, e.model),
        tuplesPath: e.tuples === undefined ? undefined : path.resolve(this.deps.baseDir, e.tuples),
        watchMs: e.watch_ms,
        log: this.log,
        metrics: this.metrics,
      });
    }
    return { config, checker, stageFactory: rebacStageFactory(checker, new SubjectMapper(config.user)) };
  }
}

/**
 * Parses the `rebac:` section and creates the capability. Throws an Error
 * naming the bad path, or the engine's error when the embedded model or
 * tuples file is missing or invalid.
 */
export function createRebacCapability(section: unknown, deps: RebacDeps): RebacCapability {
  const config = parseRebacConfig(section, deps.env ?? process.env);
  try {
    return new RebacCapability(config, deps);
  } catch (err) {
    throw new Error(`rebac: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}
