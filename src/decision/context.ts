// A DecisionContext whose AbortSignal is only created when a stage asks for
// it: most decisions do no I/O and should not pay for a timer.
import type { DecisionContext, Principal, ResourceRef, StageTiming } from './types.js';

export interface DecisionContextInit {
  readonly decisionId: string;
  readonly principal: Principal;
  readonly action: string;
  readonly resource: ResourceRef;
  readonly route: string;
  readonly routeParams: Readonly<Record<string, string>>;
  readonly deadline: number;
  /** Record each stage's time (tracing on). */
  readonly timeStages?: boolean;
}

class LazySignalContext implements DecisionContext {
  readonly decisionId: string;
  readonly principal: Principal;
  readonly action: string;
  readonly resource: ResourceRef;
  readonly route: string;
  readonly routeParams: Readonly<Record<string, string>>;
  readonly deadline: number;
  readonly annotations: Record<string, unknown> = {};
  readonly stageTimings: StageTiming[] | undefined;
  private abortSignal: AbortSignal | undefined;

  constructor(init: DecisionContextInit) {
    this.decisionId = init.decisionId;
    this.principal = init.principal;
    this.action = init.action;
    this.resource = init.resource;
    this.route = init.route;
    this.routeParams = init.routeParams;
    this.deadline = init.deadline;
    this.stageTimings = init.timeStages === true ? [] : undefined;
  }

  get signal(): AbortSignal {
    this.abortSignal ??= AbortSignal.timeout(Math.max(0, Math.ceil(this.deadline - performance.now())));
    return this.abortSignal;
  }
}

export function createDecisionContext(init: DecisionContextInit): DecisionContext {
  return new LazySignalContext(init);
}
