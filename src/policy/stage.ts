// The `policy` stage: evaluates the active bundle's entrypoint for the
// request, synchronously, and turns the answer into allow / deny. It never
// allows on a failure: no bundle, a missing entrypoint, a trap, memory past
// the cap, a result that is not a decision or a result after the deadline
// all deny. The bundle's revision is recorded on every decision it sees.
import type { StageFactory, StageFactoryContext } from '../decision/stage-registry.js';
import type { AuthzRequest, DecisionContext, Stage, StageResult } from '../decision/types.js';
import type { Logger } from '../observability/logger.js';
import type { ActivePolicy } from './activation.js';
import { normalizeEntrypoint, policyStageOptionsSchema } from './config.js';
import { PolicyEvalError } from './evaluator.js';
import { FULL_INPUT, policyInputJson, type PolicyInputShape } from './input-json.js';
import type { PolicyMetrics } from './metrics.js';
import { BadPolicyResult, POLICY_ERROR, interpretResultSet } from './result.js';
import { parseSection } from '../config/parse-section.js';
import { DEADLINE_EXCEEDED } from '../decision/reason-codes.js';

export const POLICY_UNAVAILABLE = 'policy_unavailable';

/** Where the stage finds the policy in use; the capability swaps it atomically (one assignment). */
export interface PolicySlot {
  readonly current: ActivePolicy | undefined;
}

export interface PolicyStageDeps {
  readonly slot: PolicySlot;
  readonly metrics: PolicyMetrics;
  readonly log: Logger;
  /** performance.now()-based clock; injected by tests. */
  readonly now: () => number;
}

const UNAVAILABLE: StageResult = Object.freeze({ kind: 'deny', status: 503, reason: POLICY_UNAVAILABLE });
const ERROR: StageResult = Object.freeze({ kind: 'deny', status: 503, reason: POLICY_ERROR });
const LATE: StageResult = Object.freeze({ kind: 'deny', status: 503, reason: DEADLINE_EXCEEDED });

export function policyStageFactory(deps: PolicyStageDeps): StageFactory {
  return {
    name: 'policy',
    create(options: unknown, ctx: StageFactoryContext): Stage {
      const opts = parseSection(policyStageOptionsSchema, options, 'options');
      const entrypoint = opts.entrypoint === undefined ? undefined : normalizeEntrypoint(opts.entrypoint);
      const current = deps.slot.current;
      if (entrypoint !== undefined && current !== undefined && current.evaluator.entrypointId(entrypoint) === undefined) {
        throw new Error(
          `entrypoint "${entrypoint}" is not in the loaded bundle ${current.revision} (it has: ${[...current.evaluator.entrypoints.keys()].join(', ')})`,
        );
      }
      const headers = opts.input?.headers;
      const shape: PolicyInputShape = headers === undefined ? FULL_INPUT : { headers: new Set(headers.map((h) => h.toLowerCase())) };
      return new PolicyStage(deps, entrypoint, ctx.route, shape);
    },
  };
}

class PolicyStage implements Stage {
  readonly name = 'policy';
  // The entrypoint's id in the policy it was last resolved against; a new
  // bundle (a new ActivePolicy object) resolves it again.
  private resolvedFor: ActivePolicy | undefined;
  private resolvedId: number | undefined;

  constructor(
    private readonly deps: PolicyStageDeps,
    private readonly entrypoint: string | undefined,
    private readonly route: string,
    private readonly inputShape: PolicyInputShape,
  ) {}

  evaluate(req: AuthzRequest, ctx: DecisionContext): StageResult {
    const policy = this.deps.slot.current;
    if (policy === undefined) return UNAVAILABLE;
    ctx.annotations.policy_revision = policy.revision;
    const id = this.entrypointId(policy);
    if (id === undefined) return ERROR;
    if (this.deps.now() > ctx.deadline) return LATE;

    let resultSet: unknown;
    try {
      // The input's JSON text, built once and encoded straight into the module's memory. The
      // evaluation is stopped when the decision's deadline passes (kind `timeout`).
      resultSet = policy.evaluator.evaluateJson(id, policyInputJson(req, ctx, this.inputShape), ctx.deadline);
    } catch (err) {
      const kind = err instanceof PolicyEvalError ? err.kind : 'error';
      this.deps.metrics.countEvalFailure(kind);
      this.deps.log.warn({ decision_id: ctx.decisionId, route: this.route, revision: policy.revision, kind,
        err: (err as Error).message }, 'policy evaluation failed');
      return ERROR;
    }
    // An answer that arrived just after the deadline (between two clock checks) is not used.
    if (this.deps.now() > ctx.deadline) return LATE;

    try {
      const verdict = interpretResultSet(resultSet);
      if (verdict.controls !== undefined) ctx.annotations.controls = verdict.controls;
      if (verdict.responseHeaders !== undefined && verdict.result.kind === 'allow') {
        return { ...verdict.result, responseHeaders: verdict.responseHeaders };
      }
      return verdict.result;
    } catch (err) {
      if (!(err instanceof BadPolicyResult)) throw err;
      this.deps.metrics.countEvalFailure('bad_result');
      this.deps.log.warn({ decision_id: ctx.decisionId, route: this.route, revision: policy.revision, err: err.message },
        'policy result is not a decision');
      return ERROR;
    }
  }

  private entrypointId(policy: ActivePolicy): number | undefined {
    if (this.resolvedFor !== policy) {
      const name = this.entrypoint ?? policy.defaultEntrypoint.name;
      this.resolvedId = policy.evaluator.entrypointId(name);
      this.resolvedFor = policy;
      if (this.resolvedId === undefined) {
        this.deps.log.error({ route: this.route, entrypoint: name, revision: policy.revision },
          'policy entrypoint missing from the bundle in use; the route denies policy_error');
      }
    }
    if (this.resolvedId === undefined) this.deps.metrics.countEvalFailure('no_entrypoint');
    return this.resolvedId;
  }
}
