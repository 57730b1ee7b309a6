// The `rebac` stage: "may <principal> <relation> <object>?" for each of the
// route's checks, answered by the embedded engine (synchronously) or by a
// remote OpenFGA through the decision cache (synchronously on a cache hit).
//
// Each check carries the request context for CEL conditions:
//   { tenant: <resource tenant>, principal_tenant: <principal's tenant>, action: <route action> }
// (keys whose value is unknown are left out).
import type { StageFactory, StageFactoryContext } from '../../decision/stage-registry.js';
import { StageFailure } from '../../decision/stage-failure.js';
import type { AuthzRequest, DecisionContext, Stage, StageResult } from '../../decision/types.js';
import type { FgaCheck, RebacChecker } from '../checker.js';
import { REBAC_BAD_REQUEST, REBAC_DENIED } from '../reasons.js';
import type { SubjectMapper } from '../subject.js';
import { ClaimTuples } from './claim-tuples.js';
import { ObjectTemplate } from './object-template.js';
import { parseRouteOptions } from './options.js';

const ALLOW: StageResult = Object.freeze({ kind: 'allow' });
const DENY: StageResult = Object.freeze({ kind: 'deny', status: 403, reason: REBAC_DENIED });

/** OpenFGA's object syntax: `type:id`, id without '#' or whitespace, not the wildcard, at most 256 bytes. */
const OBJECT = /^[^:#@\s]{1,254}:[^#\s]+$/;

interface BoundCheck {
  readonly relation: string;
  /** undefined: the route's resource. */
  readonly object: ObjectTemplate | undefined;
}

export class RebacStage implements Stage {
  readonly name = 'rebac';

  constructor(
    private readonly checker: RebacChecker,
    private readonly subjects: SubjectMapper,
    private readonly checks: readonly BoundCheck[],
    private readonly any: boolean,
    private readonly higherConsistency: boolean,
    private readonly claimTuples: ClaimTuples | undefined,
  ) {}

  evaluate(_req: AuthzRequest, ctx: DecisionContext): StageResult | Promise<StageResult> {
    const user = this.subjects.userFor(ctx.principal);
    if (user === undefined) return DENY;
    const { context, contextKey } = this.contextOf(ctx);
    const extra = this.claimTuples?.build(ctx.principal, user);
    const checks = new Array<FgaCheck>(this.checks.length);
    for (let i = 0; i < this.checks.length; i++) {
      const b = this.checks[i]!;
      const object = b.object === undefined ? `${ctx.resource.type}:${ctx.resource.id}` : b.object.render(ctx);
      if (!OBJECT.test(object) || object.length > 256 || object.endsWith(':*')) {
        throw new StageFailure(REBAC_BAD_REQUEST, 403, `malformed object '${object}'`);
      }
      const check: { -readonly [K in keyof FgaCheck]: FgaCheck[K] } = { user, relation: b.relation, object, context, contextKey };
      if (extra !== undefined && extra.tuples.length > 0) {
        check.contextualTuples = extra.tuples;
        check.contextualTuplesKey = extra.key;
      }
      if (this.higherConsistency) check.higherConsistency = true;
      checks[i] = check;
    }
    const modelId = this.checker.modelId();
    if (modelId !== undefined) ctx.annotations.fga_model_id = modelId;
    const answers = this.checker.checkAll(checks, ctx.deadline);
    if (isPromise(answers)) return answers.then((a) => this.fold(a));
    return this.fold(answers);
  }

  /**
   * The checks' request context and its key, reused while tenant, principal
   * tenant and action are the last decision's (a route has one action; a
   * principal, one tenant): no object and no key string per decision.
   */
  private lastContext: { tenant: string | undefined; principalTenant: string | undefined; action: string;
    context: Record<string, unknown>; contextKey: string } | undefined;

  private contextOf(ctx: DecisionContext): { context: Record<string, unknown>; contextKey: string } {
    const last = this.lastContext;
    const tenant = ctx.resource.tenant;
    const principalTenant = ctx.principal.tenant;
    if (last !== undefined && last.tenant === tenant && last.principalTenant === principalTenant && last.action === ctx.action) return last;
    // Frozen: the same object goes to every check that shares it (and to a remote engine's request).
    const context = Object.freeze(requestContext(ctx));
    const contextKey = `${lengthPrefixed(tenant)}${lengthPrefixed(principalTenant)}${ctx.action}`;
    this.lastContext = { tenant, principalTenant, action: ctx.action, context, contextKey };
    return this.lastContext;
  }

  private fold(answers: readonly boolean[]): StageResult {
    if (this.any) {
      for (const a of answers) if (a) return ALLOW;
      return DENY;
    }
    for (const a of answers) if (!a) return DENY;
    return ALLOW;
  }
}

function requestContext(ctx: DecisionContext): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (ctx.resource.tenant !== undefined) out.tenant = ctx.resource.tenant;
  if (ctx.principal.tenant !== undefined) out.principal_tenant = ctx.principal.tenant;
  out.action = ctx.action;
  return out;
}

/** Injective without escaping: `-` for absent, else `<length>:<value>`. */
function lengthPrefixed(v: string | undefined): string {
  return v === undefined ? '-' : `${v.length}:${v}`;
}

function isPromise<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

export function rebacStageFactory(checker: RebacChecker, subjects: SubjectMapper): StageFactory {
  return {
    name: 'rebac',
    create(options: unknown, _ctx: StageFactoryContext): Stage {
      const opts = parseRouteOptions(options);
      const checks = opts.checks.map((c) => ({
        relation: c.relation,
        object: 'object' in c && c.object !== undefined ? ObjectTemplate.parse(c.object) : undefined,
      }));
      let claimTuples: ClaimTuples | undefined;
      if (opts.contextual_tuples.length > 0) {
        const rules = new ClaimTuples(opts.contextual_tuples);
        checker.withModel((model) => rules.validate(model, subjects.userType));
        claimTuples = rules;
      }
      return new RebacStage(checker, subjects, checks, opts.mode === 'any', opts.consistency === 'higher_consistency', claimTuples);
    },
  };
}
