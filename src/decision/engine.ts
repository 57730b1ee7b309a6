// Runs a route's stages in order under one deadline and folds their answers.
// Fail-closed: a throw, a rejected promise, an unknown result or the deadline
// is a deny. Stages that answer synchronously never cost a promise.
import type { AuthzRequest, DecisionContext, DenyStatus, Stage, StageResult } from './types.js';
import { StageFailure } from './stage-failure.js';
import { timeLimit } from '../util/time-limit.js';
import { DEADLINE_EXCEEDED } from './reason-codes.js';

/** The engine's verdict before enforcement mode and headers are applied. */
export type StageVerdict =
  | {
      readonly kind: 'allow';
      readonly headers: Record<string, string>;
      /** Headers for the client's response, when a stage set any. */
      readonly responseHeaders?: Record<string, string>;
    }
  | {
      readonly kind: 'deny';
      readonly status: DenyStatus;
      readonly reason: string;
      readonly stage: string;
      readonly headers: Record<string, string>;
      readonly body?: string;
    };


export interface RunOptions {
  /** When every stage abstains: allow (route configured with no stages) or deny `no_decision`. */
  readonly allowWhenAllAbstain: boolean;
}

export function runStages(
  stages: readonly Stage[],
  req: AuthzRequest,
  ctx: DecisionContext,
  opts: RunOptions,
): StageVerdict | Promise<StageVerdict> {
  const headers: Record<string, string> = {};
  const state: RunState = { anyAllowed: false, responseHeaders: undefined };
  for (let i = 0; i < stages.length; i++) {
    const stage = stages[i]!;
    if (performance.now() > ctx.deadline) return deny(503, DEADLINE_EXCEEDED, stage.name, headers);
    const started = ctx.stageTimings === undefined ? 0 : performance.now();
    let result: StageResult | Promise<StageResult>;
    try {
      result = stage.evaluate(req, ctx);
    } catch (err) {
      return fromError(err, stage.name, headers);
    }
    if (isPromise(result)) return continueAsync(stages, i, result, req, ctx, opts, headers, state, started);
    if (ctx.stageTimings !== undefined) ctx.stageTimings.push({ stage: stage.name, ms: performance.now() - started });
    const folded = fold(result, stage.name, headers, state);
    if (folded !== undefined) return folded;
  }
  return finish(state, opts, headers);
}

/** What a run has gathered so far besides upstream headers. */
interface RunState {
  anyAllowed: boolean;
  responseHeaders: Record<string, string> | undefined;
}

async function continueAsync(
  stages: readonly Stage[],
  index: number,
  pending: Promise<StageResult>,
  req: AuthzRequest,
  ctx: DecisionContext,
  opts: RunOptions,
  headers: Record<string, string>,
  state: RunState,
  firstStarted: number,
): Promise<StageVerdict> {
  let current: Promise<StageResult> | StageResult = pending;
  for (let i = index; i < stages.length; i++) {
    const stage = stages[i]!;
    let started = firstStarted;
    if (i > index) {
      if (performance.now() > ctx.deadline) return deny(503, DEADLINE_EXCEEDED, stage.name, headers);
      if (ctx.stageTimings !== undefined) started = performance.now();
      try {
        current = stage.evaluate(req, ctx);
      } catch (err) {
        return fromError(err, stage.name, headers);
      }
    }
    let result: StageResult;
    try {
      result = isPromise(current) ? await withDeadline(current, ctx.deadline) : current;
    } catch (err) {
      return fromError(err, stage.name, headers);
    }
    if (ctx.stageTimings !== undefined) ctx.stageTimings.push({ stage: stage.name, ms: performance.now() - started });
    const folded = fold(result, stage.name, headers, state);
    if (folded !== undefined) return folded;
  }
  return finish(state, opts, headers);
}

/** Returns a verdict when the stage ends the run (deny or bad result); undefined to continue. */
function fold(
  result: StageResult,
  stage: string,
  headers: Record<string, string>,
  state: RunState,
): StageVerdict | undefined {
  if (result === null || typeof result !== 'object') return deny(503, 'stage_error', stage, headers);
  switch (result.kind) {
    case 'allow':
      state.anyAllowed = true;
      if (result.headers) Object.assign(headers, result.headers);
      if (result.responseHeaders) Object.assign((state.responseHeaders ??= {}), result.responseHeaders);
      return undefined;
    case 'abstain':
      return undefined;
    case 'deny': {
      if (result.headers) Object.assign(headers, result.headers);
      const status = isDenyStatus(result.status) ? result.status : 403;
      const reason = typeof result.reason === 'string' && result.reason !== '' ? result.reason : `${stage}_denied`;
      return result.body === undefined
        ? deny(status, reason, stage, headers)
        : { kind: 'deny', status, reason, stage, headers, body: result.body };
    }
    default:
      return deny(503, 'stage_error', stage, headers);
  }
}

function finish(state: RunState, opts: RunOptions, headers: Record<string, string>): StageVerdict {
  if (state.anyAllowed || opts.allowWhenAllAbstain) {
    return state.responseHeaders ? { kind: 'allow', headers, responseHeaders: state.responseHeaders } : { kind: 'allow', headers };
  }
  return deny(403, 'no_decision', 'engine', headers);
}

function fromError(err: unknown, stage: string, headers: Record<string, string>): StageVerdict {
  if (err instanceof StageFailure) return deny(err.status, err.reason, stage, headers);
  if (err instanceof DeadlineError) return deny(503, DEADLINE_EXCEEDED, stage, headers);
  return deny(503, 'stage_error', stage, headers);
}

function deny(
  status: DenyStatus,
  reason: string,
  stage: string,
  headers: Record<string, string>,
): StageVerdict {
  return { kind: 'deny', status, reason, stage, headers };
}

function isDenyStatus(s: unknown): s is DenyStatus {
  return s === 401 || s === 403 || s === 429 || s === 503;
}

function isPromise<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

class DeadlineError extends Error {}

/** Rejects at the absolute deadline unless the promise settles first. */
export function withDeadline<T>(p: Promise<T>, deadline: number): Promise<T> {
  return timeLimit(p, deadline - performance.now(), () => new DeadlineError(DEADLINE_EXCEEDED));
}

export { DeadlineError };
