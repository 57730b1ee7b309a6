// Builds budget capabilities and stages the way the sidecar does, with an
// injected clock, and runs one decision through a stage.
import type { Test } from 'tap';
import { createDecisionContext } from '../../src/decision/context.js';
import type { DecisionContext, Stage, StageResult } from '../../src/decision/types.js';
import { createBudgetCapability, type BudgetCapability } from '../../src/budget/index.js';
import { createLogger } from '../../src/observability/logger.js';
import { SidecarMetrics } from '../../src/observability/metrics.js';
import { authzRequest, principal, resource } from '../support/principals.js';

export class TestClock {
  constructor(public now: number) {}
  readonly read = (): number => this.now;
  set(iso: string): void {
    this.now = Date.parse(iso);
  }
  advance(ms: number): void {
    this.now += ms;
  }
}

export interface Built {
  cap: BudgetCapability;
  metrics: SidecarMetrics;
  clock: TestClock;
  stage(options?: unknown): Stage;
}

export function build(
  t: Test,
  section: unknown,
  opts: { clock?: TestClock; env?: NodeJS.ProcessEnv; metrics?: SidecarMetrics } = {},
): Built {
  const clock = opts.clock ?? new TestClock(Date.parse('2025-01-15T12:00:00.000Z'));
  const metrics = opts.metrics ?? new SidecarMetrics({ defaultMetrics: false });
  const cap = createBudgetCapability(section, {
    log: createLogger('silent'),
    metrics,
    baseDir: '.',
    clock: clock.read,
    env: opts.env ?? {},
  });
  t.teardown(() => cap.close());
  return {
    cap,
    metrics,
    clock,
    stage: (options?: unknown) => cap.stageFactory.create(options, { route: 'r', resourceType: 'project', action: 'run' }),
  };
}

export interface Call {
  tenant?: string | undefined;
  user?: string;
  headers?: Record<string, string>;
}

export function contextFor(call: Call = {}): DecisionContext {
  const tenant = 'tenant' in call ? call.tenant : 'acme';
  return createDecisionContext({
    decisionId: 'd-1',
    principal: principal({ id: call.user ?? 'alice', tenant }),
    action: 'run',
    resource: resource({ tenant }),
    route: 'r',
    routeParams: {},
    deadline: performance.now() + 60_000,
  });
}

/** One decision; the context is returned so tests can read ctx.annotations.budget. */
export function evaluate(stage: Stage, call: Call = {}): { result: StageResult | Promise<StageResult>; ctx: DecisionContext } {
  const ctx = contextFor(call);
  return { result: stage.evaluate(authzRequest({ headers: call.headers ?? {} }), ctx), ctx };
}

/** Runs one decision and insists it was answered synchronously. */
export function decideSync(t: Test, stage: Stage, call: Call = {}): StageResult & { ctx: DecisionContext } {
  const { result, ctx } = evaluate(stage, call);
  if (result instanceof Promise) {
    t.fail('the budget stage returned a promise where it must answer synchronously');
    throw new Error('promise');
  }
  return Object.assign({}, result, { ctx });
}

export async function decide(stage: Stage, call: Call = {}): Promise<StageResult & { ctx: DecisionContext }> {
  const { result, ctx } = evaluate(stage, call);
  return Object.assign({}, await result, { ctx });
}

export function headersOf(r: StageResult): Readonly<Record<string, string>> {
  return r.kind === 'abstain' ? {} : (r.headers ?? {});
}

export function bodyOf(r: StageResult): Record<string, unknown> {
  return r.kind === 'deny' && r.body !== undefined ? (JSON.parse(r.body) as Record<string, unknown>) : {};
}
