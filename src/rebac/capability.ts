// The rebac capability: parses the `rebac:` section, owns the checker
// (embedded engine or remote OpenFGA with its cache and change feed) and
// contributes the `rebac` stage.
import path from 'node:path';
import type { Capability, CapabilityDeps } from '../decision/capability.js';
import type { StageFactory } from '../decision/stage-registry.js';
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
  readonly stageFactory: StageFactory;
  readonly checker: RebacChecker;
  readonly config: RebacConfig;

  constructor(config: RebacConfig, deps: RebacDeps) {
    this.config = config;
    const log = deps.log.child({ room: 'rebac' });
    const metrics = new RebacMetrics(deps.metrics.registry);
    if (config.mode === 'remote') {
      this.checker = new RemoteChecker({ config: config.remote!, log, metrics });
    } else {
      const e = config.embedded;
      this.checker = new EmbeddedChecker({
        modelPath: path.resolve(deps.baseDir, e.model),
        tuplesPath: e.tuples === undefined ? undefined : path.resolve(deps.baseDir, e.tuples),
        watchMs: e.watch_ms,
        log,
        metrics,
      });
    }
    this.stageFactory = rebacStageFactory(this.checker, new SubjectMapper(config.user));
  }

  isReady(): boolean {
    return this.checker.isReady();
  }

  ready(): Promise<void> {
    return this.checker.ready();
  }

  close(): Promise<void> {
    return this.checker.close();
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
