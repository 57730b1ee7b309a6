// Embedded mode: the model and tuples files loaded into the in-process
// engine, reloaded on change (keeping the last good state), and every check
// answered synchronously — no promise, no I/O on the decision path.
import type { Logger } from 'pino';
import { StageFailure } from '../decision/stage-failure.js';
import { AnswerMemo } from './embedded/answer-memo.js';
import { FgaCheckError, loadEmbeddedStore } from './embedded/index.js';
import type { EmbeddedCheckRequest, EmbeddedFileSource } from './embedded/index.js';
import { checkKey, type FgaCheck, type RebacChecker } from './checker.js';
import type { AuthorizationModel } from './model/types.js';
import type { RebacMetrics } from './metrics.js';
import { REBAC_BAD_REQUEST, REBAC_UNAVAILABLE } from './reasons.js';

export interface EmbeddedCheckerOptions {
  modelPath: string;
  tuplesPath: string | undefined;
  watchMs: number;
  log: Logger;
  metrics: RebacMetrics;
}

export class EmbeddedChecker implements RebacChecker {
  readonly mode = 'embedded' as const;
  readonly source: EmbeddedFileSource;
  /** Answers at the store's current revision: a repeated check is a map lookup, not a resolution. */
  private readonly memo = new AnswerMemo();

  /** Throws a clear FgaCheckError when the files are missing or invalid at start. */
  constructor(opts: EmbeddedCheckerOptions) {
    this.source = loadEmbeddedStore({
      modelPath: opts.modelPath,
      ...(opts.tuplesPath !== undefined ? { tuplesPath: opts.tuplesPath } : {}),
      storeName: 'rebac',
      log: opts.log,
    });
    if (opts.watchMs > 0) {
      this.source.watch(opts.watchMs, (r) => {
        if (r.ok && !r.changed) return;
        opts.metrics.modelReloads.inc({ outcome: r.ok ? 'success' : 'failure' });
      });
    }
  }

  modelId(): string {
    return this.source.store.getModel().id;
  }

  withModel(check: (model: AuthorizationModel) => void): void {
    check(this.source.store.getModel().model);
  }

  checkAll(checks: readonly FgaCheck[]): readonly boolean[] {
    const out = new Array<boolean>(checks.length);
    for (let i = 0; i < checks.length; i++) out[i] = this.checkOne(checks[i]!);
    return out;
  }

  private checkOne(c: FgaCheck): boolean {
    const store = this.source.store;
    const revision = store.revision;
    const key = checkKey(c);
    const known = this.memo.get(key, revision);
    if (known !== undefined) return known;
    const allowed = this.resolve(c);
    this.memo.set(key, revision, allowed);
    return allowed;
  }

  private resolve(c: FgaCheck): boolean {
    const req: EmbeddedCheckRequest = { tuple_key: { user: c.user, relation: c.relation, object: c.object } };
    if (c.context !== undefined) req.context = c.context as Record<string, unknown>;
    if (c.contextualTuples !== undefined) req.contextual_tuples = [...c.contextualTuples];
    try {
      return this.source.store.check(req).allowed;
    } catch (err) {
      if (err instanceof FgaCheckError && err.httpStatus < 500) {
        throw new StageFailure(REBAC_BAD_REQUEST, 403, `${err.code}: ${err.message}`);
      }
      throw new StageFailure(REBAC_UNAVAILABLE, 503, (err as Error)?.message);
    }
  }

  isReady(): boolean {
    return true;
  }

  ready(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.source.close();
    return Promise.resolve();
  }
}
