// The whole decision for one request: route → identity → resource → stages →
// enforcement mode → Decision. Shared by every transport and by `check`.
import type { Logger } from '../observability/logger.js';
import type { SidecarMetrics } from '../observability/metrics.js';
import { runStages, type StageVerdict } from './engine.js';
import { randomUuid } from './uuid.js';
import type { IdentityResolver, IdentityResult, RouteMatch, RouteMatcher } from './interfaces.js';
import { createDecisionContext } from './context.js';
import { NO_CONTROLS } from './controls.js';
import type { ShedSignal } from './load-shedder.js';
import { PRINCIPAL_HEADER, ROLES_HEADER, TENANT_HEADER, WARNING_HEADER } from './owned-headers.js';
import { AUDIT_UNAVAILABLE, DEADLINE_EXCEEDED, OVERLOADED } from './reason-codes.js';
import {
  type AuthzRequest,
  type Decision,
  type DenyStatus,
  type EnforcementMode,
  type Principal,
  type ResourceRef,
  type StageTiming,
} from './types.js';

const NO_ANNOTATIONS: Readonly<Record<string, unknown>> = Object.freeze({});

export const ANONYMOUS: Principal = Object.freeze({
  id: 'anonymous',
  kind: 'anonymous',
  tenant: undefined,
  roles: Object.freeze([]) as readonly string[],
  claims: Object.freeze({}),
  source: 'anonymous',
});

/** Headers an allowed request carries upstream (Envoy: allowed_upstream_headers); the registry is owned-headers.ts. */
export { PRINCIPAL_HEADER, TENANT_HEADER, ROLES_HEADER, WARNING_HEADER } from './owned-headers.js';

export interface AuthorizerOptions {
  readonly routes: RouteMatcher;
  readonly identity: IdentityResolver;
  readonly enforcement: EnforcementMode;
  readonly deadlineMs: number;
  readonly metrics: SidecarMetrics;
  readonly log: Logger;
  /**
   * Called with every decision, synchronously, before it is returned (audit
   * appends it to the write-ahead trail here); false: it could not be
   * recorded and must not be answered as it is (see finish()).
   */
  readonly onDecision?: (decision: Decision, req: AuthzRequest) => boolean;
  /**
   * Asked before deciding: false denies `audit_unavailable` (the audit trail
   * cannot take another event and the config says no unaudited access).
   */
  readonly canRecord?: () => boolean;
  /** Record each stage's time into the Decision (something reads it: tracing). Off: no clock reads per stage. */
  readonly timeStages?: boolean;
  /** Load shedding (decision/load-shedder.ts): asked first; a signal answers 503 `overloaded` at once. */
  readonly shedder?: {
    check(): ShedSignal | undefined;
    track(pending: Promise<unknown>): void;
  };
}

export class Authorizer {
  constructor(private readonly opts: AuthorizerOptions) {}

  /**
   * @param deadlineMs the caller's own budget (e.g. from gRPC's grpc-timeout);
   * the decision runs under the smaller of it and the configured deadline.
   */
  decide(req: AuthzRequest, deadlineMs?: number): Decision | Promise<Decision> {
    const shedder = this.opts.shedder;
    if (shedder === undefined) return this.decideNow(req, deadlineMs);
    if (shedder.check() !== undefined) return this.shed(req);
    const decision = this.decideNow(req, deadlineMs);
    if (decision instanceof Promise) shedder.track(decision);
    return decision;
  }

  /** No stage runs and nothing is audited: under overload the cheapest honest answer is the point. */
  private shed(req: AuthzRequest): Decision {
    return this.finish(req, randomUuid(), performance.now(), this.opts.enforcement, deny(503, OVERLOADED, 'load_shedding'),
      undefined, undefined, undefined, NO_ANNOTATIONS, false);
  }

  private decideNow(req: AuthzRequest, deadlineMs: number | undefined): Decision | Promise<Decision> {
    const started = performance.now();
    const decisionId = randomUuid();
    if (this.opts.canRecord !== undefined && !this.opts.canRecord()) {
      return this.finish(req, decisionId, started, 'deny', deny(503, AUDIT_UNAVAILABLE, 'audit'), undefined);
    }
    if (req.malformed !== undefined) {
      return this.finish(req, decisionId, started, 'deny', deny(403, req.malformed, 'request'), undefined);
    }
    const match = this.opts.routes.match(req);
    if (match === undefined) {
      return this.finish(req, decisionId, started, this.opts.enforcement, deny(403, 'no_route', 'route'), undefined);
    }
    let identity: IdentityResult | Promise<IdentityResult>;
    try {
      identity = this.opts.identity.identify(req);
    } catch (err) {
      this.opts.log.error({ err: errorSummary(err) }, 'identity resolver threw');
      return this.finishWith(req, decisionId, started, match, deny(503, 'identity_error', 'identity'), undefined);
    }
    if (identity instanceof Promise) {
      const deadline = started + this.budget(match, deadlineMs);
      return identity.then(
        (id) => this.afterIdentity(req, decisionId, started, match, id, deadlineMs),
        (err: unknown) => {
          this.opts.log.error({ err: errorSummary(err) }, 'identity resolver failed');
          const late = performance.now() > deadline;
          return this.finishWith(req, decisionId, started, match,
            deny(503, late ? DEADLINE_EXCEEDED : 'identity_error', 'identity'), undefined);
        },
      );
    }
    return this.afterIdentity(req, decisionId, started, match, identity, deadlineMs);
  }

  /** The route's (or the configured) deadline, capped by the caller's budget when it gave one. */
  private budget(match: RouteMatch, deadlineMs: number | undefined): number {
    const configured = match.route.deadlineMs ?? this.opts.deadlineMs;
    return deadlineMs === undefined ? configured : Math.min(configured, deadlineMs);
  }

  private afterIdentity(
    req: AuthzRequest,
    decisionId: string,
    started: number,
    match: RouteMatch,
    identity: IdentityResult,
    deadlineMs?: number,
  ): Decision | Promise<Decision> {
    const { route } = match;
    let principal: Principal;
    if (identity.kind === 'principal') {
      principal = identity.principal;
    } else if (identity.kind === 'none' && route.anonymous) {
      principal = ANONYMOUS;
    } else {
      const reason = identity.kind === 'invalid' ? identity.reason : 'no_identity';
      this.opts.metrics.identityFailures.inc({ reason });
      return this.finishWith(req, decisionId, started, match, deny(401, reason, 'identity'), undefined);
    }
    const resolved = route.resolveResource(req, match.params, principal);
    if (resolved.kind === 'error') {
      return this.finishWith(req, decisionId, started, match, deny(403, resolved.reason, 'route'), principal);
    }
    const ctx = createDecisionContext({
      decisionId,
      principal,
      action: route.action,
      resource: resolved.resource,
      route: route.name,
      routeParams: match.params,
      deadline: started + this.budget(match, deadlineMs),
      timeStages: this.opts.timeStages,
    });
    const verdict = runStages(route.stages, req, ctx, { allowWhenAllAbstain: route.explicitlyNoStages });
    const mode = route.enforcement ?? this.opts.enforcement;
    if (verdict instanceof Promise) {
      return verdict.then((v) =>
        this.finish(req, decisionId, started, mode, v, match, principal, resolved.resource, ctx.annotations, true, ctx.stageTimings),
      );
    }
    return this.finish(req, decisionId, started, mode, verdict, match, principal, resolved.resource, ctx.annotations, true, ctx.stageTimings);
  }

  private finishWith(
    req: AuthzRequest,
    decisionId: string,
    started: number,
    match: RouteMatch,
    verdict: StageVerdict,
    principal: Principal | undefined,
  ): Decision {
    const mode = match.route.enforcement ?? this.opts.enforcement;
    return this.finish(req, decisionId, started, mode, verdict, match, principal);
  }

  private finish(
    req: AuthzRequest,
    decisionId: string,
    started: number,
    mode: EnforcementMode,
    verdict: StageVerdict,
    match: RouteMatch | undefined,
    principal?: Principal,
    resource?: ResourceRef,
    annotations: Readonly<Record<string, unknown>> = NO_ANNOTATIONS,
    record = true,
    stageTimings?: readonly StageTiming[],
  ): Decision {
    // Every Decision is built by this one object literal with the same keys in
    // the same order, so V8 keeps one hidden class for all of them (spreading
    // a shared base object here cost ~15% of the gRPC path's CPU).
    const responseHeaders: Record<string, string> = { 'x-authz-decision-id': decisionId };
    const upstreamHeaders: Record<string, string> = { 'x-authz-decision-id': decisionId };
    const allowed = verdict.kind === 'allow' || mode !== 'deny';
    let wouldDeny: Decision['wouldDeny'];
    if (allowed) {
      addIdentityHeaders(upstreamHeaders, principal);
      Object.assign(upstreamHeaders, verdict.headers);
      if (verdict.kind === 'allow') {
        if (verdict.responseHeaders) Object.assign(responseHeaders, verdict.responseHeaders);
      } else {
        wouldDeny = { status: verdict.status, reason: verdict.reason, stage: verdict.stage };
        if (mode === 'warn') {
          responseHeaders[WARNING_HEADER] = `would deny: ${verdict.reason}`;
          upstreamHeaders[WARNING_HEADER] = `would deny: ${verdict.reason}`;
        }
        this.opts.log.warn({ decision_id: decisionId, mode, reason: verdict.reason, stage: verdict.stage,
          route: match?.route.name, principal: principal?.id }, 'would deny (not enforced)');
      }
    } else {
      Object.assign(responseHeaders, verdict.headers);
    }
    const decision: Decision = {
      decisionId,
      allowed,
      status: allowed ? 200 : (verdict as Extract<StageVerdict, { kind: 'deny' }>).status,
      reason: allowed ? 'allowed' : (verdict as Extract<StageVerdict, { kind: 'deny' }>).reason,
      stage: verdict.kind === 'deny' ? verdict.stage : 'engine',
      mode,
      wouldDeny,
      upstreamHeaders,
      responseHeaders,
      body: !allowed && verdict.kind === 'deny' ? verdict.body : undefined,
      principal,
      action: match?.route.action,
      resource,
      route: match?.route.name,
      annotations,
      stageTimings,
      controls: match?.route.controls ?? NO_CONTROLS,
      durationSeconds: (performance.now() - started) / 1000,
    };
    // A shed decision (record = false) is not audited: under overload the trail would only add to it.
    if (record && this.opts.onDecision !== undefined && !this.opts.onDecision(decision, req) && decision.reason !== AUDIT_UNAVAILABLE) {
      // The audit trail could not take this decision (and the config says no
      // unaudited access): the caller gets a deny it can retry, never an unrecorded answer.
      return this.finish(req, decisionId, started, 'deny', deny(503, AUDIT_UNAVAILABLE, 'audit'), match, principal, resource);
    }
    const result = decision.allowed ? (decision.wouldDeny ? `${mode}_allow` : 'allow') : 'deny';
    this.opts.metrics.countDecision(result, decision.wouldDeny?.reason ?? decision.reason, decision.stage);
    this.opts.metrics.observeDecision(req.transport, decision.durationSeconds);
    return decision;
  }
}

function deny(status: DenyStatus, reason: string, stage: string): StageVerdict {
  return { kind: 'deny', status, reason, stage, headers: {} };
}

function addIdentityHeaders(headers: Record<string, string>, principal: Principal | undefined): void {
  if (principal === undefined || principal.kind === 'anonymous') return;
  headers[PRINCIPAL_HEADER] = principal.id;
  if (principal.tenant !== undefined) headers[TENANT_HEADER] = principal.tenant;
  if (principal.roles.length > 0) headers[ROLES_HEADER] = principal.roles.join(',');
}

function errorSummary(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
