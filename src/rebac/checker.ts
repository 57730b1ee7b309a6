// What the rebac stage asks of an engine, embedded or remote: answer a list
// of checks, synchronously when it can. An engine that cannot answer throws a
// StageFailure (rebac_unavailable / rebac_bad_request); it never answers
// "allowed" on error.
import type { AuthorizationModel, TupleKey } from './model/types.js';

export interface FgaCheck {
  /** `type:id`, `type:*` or `type:id#relation`. */
  readonly user: string;
  readonly relation: string;
  /** `type:id`. */
  readonly object: string;
  /** Request context for CEL conditions. */
  readonly context?: Readonly<Record<string, unknown>>;
  /**
   * A string that identifies `context` (equal contexts, equal strings), so a
   * cache need not serialize it per check; JSON of the context when absent.
   */
  readonly contextKey?: string;
  readonly contextualTuples?: readonly TupleKey[];
  /** Identifies `contextualTuples` for the cache (equal lists, equal strings); JSON of them when absent. */
  readonly contextualTuplesKey?: string;
  /**
   * OpenFGA's HIGHER_CONSISTENCY: the answer must reflect the latest writes,
   * so the decision cache is neither read nor written for this check.
   */
  readonly higherConsistency?: boolean;
}

/**
 * A string naming everything an answer depends on besides the engine's own
 * state: user, relation, object, the request context and the contextual
 * tuples (by their keys when the caller gave them). Equal checks, equal keys;
 * the fields cannot run into each other (ids hold no control characters: the
 * path normalizer refuses them, and user strings are escaped). Shared by the
 * remote decision cache and the embedded engine's answer memo.
 */
export function checkKey(c: FgaCheck): string {
  let key = `${c.user}\u0001${c.relation}\u0001${c.object}`;
  if (c.context !== undefined) key += `\u0001${c.contextKey ?? JSON.stringify(c.context)}`;
  if (c.contextualTuples !== undefined && c.contextualTuples.length > 0) {
    key += `\u0002${c.contextualTuplesKey ?? JSON.stringify(c.contextualTuples)}`;
  }
  return key;
}

export interface RebacChecker {
  readonly mode: 'embedded' | 'remote';
  /** The authorization model answering checks (recorded as the `fga_model_id` annotation). */
  modelId(): string | undefined;
  /**
   * One answer per check, in order. `deadline` is absolute, in
   * performance.now() milliseconds (the request's deadline).
   */
  checkAll(checks: readonly FgaCheck[], deadline: number): readonly boolean[] | Promise<readonly boolean[]>;
  /** The circuit breaker in front of a remote engine; absent for the embedded one. */
  breakerState?(): 'closed' | 'open' | 'half-open';
  /**
   * Runs `check` against the authorization model: now when it is known
   * (embedded, or remote once read), else when the remote model is first read
   * — a throw then fails start-up (ready() rejects with it). Route options
   * that name model types validate this way.
   */
  withModel(check: (model: AuthorizationModel) => void): void;
  isReady(): boolean;
  ready(): Promise<void>;
  close(): Promise<void>;
}
