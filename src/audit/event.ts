// The audit event: what one decision leaves behind, in its versioned wire
// form (`toWireEvent`), serialized once on the decision thread and appended
// to the write-ahead trail before the answer leaves.
// Never copied: tokens, credentials, headers other than traceparent, bodies, query strings.
// Every string that comes from outside (a token's subject, a bundle's
// revision, a remote OpenFGA's model id, a path, a stage's reason) is cut to
// a bound, so one event stays far below MAX_EVENT_BYTES whatever they hold.
import type { AuthzRequest, Decision } from '../decision/types.js';
import { MAX_CONTROLS, NO_CONTROLS, isControl, mergeControls } from '../decision/controls.js';
import { traceIdFrom } from './trace-context.js';

export const AUDIT_SCHEMA_VERSION = 1;

export type AuditResult = 'allow' | 'deny' | 'error';

/** Bounds for strings from outside (UTF-16 units; at most 3 bytes each in UTF-8). */
export const FIELD_MAX = 256;
export const PRINCIPAL_MAX = 512;
export const PATH_MAX = 2048;
const BUDGET_KEYS_MAX = 16;
/** No event is larger (the field bounds above keep one below ~40 KiB); readers treat a longer line as corrupt. */
export const MAX_EVENT_BYTES = 64 * 1024;
const TRUNCATED = '…[truncated]';

/** `s`, or its first `max` units marked as truncated. */
export function bounded(s: string, max = FIELD_MAX): string {
  return s.length <= max ? s : s.slice(0, max) + TRUNCATED;
}

function boundedOrNull(s: string | undefined | null, max = FIELD_MAX): string | null {
  return s === undefined || s === null ? null : bounded(String(s), max);
}

/** The decision-time capture, kept in the queue until flushed. */
export interface CapturedEvent {
  readonly at: number; // Date.now() when the decision was recorded
  readonly decision: Decision;
  readonly requestId: string;
  readonly clientIp: string | undefined;
  readonly traceparent: string | undefined;
  readonly method: string;
  readonly path: string;
  readonly transport: string;
}

export function captureEvent(decision: Decision, req: AuthzRequest): CapturedEvent {
  return {
    at: Date.now(),
    decision,
    requestId: req.requestId,
    clientIp: req.source.address,
    traceparent: req.headers.traceparent,
    method: req.method,
    path: req.path,
    transport: req.transport,
  };
}

/** Schema v1, field order as documented in docs/audit.md. */
export interface AuditEventV1 {
  schema_version: 1;
  timestamp: string;
  decision_id: string;
  tenant_id: string | null;
  principal: string | null;
  principal_kind: string | null;
  principal_tenant: string | null;
  action: string | null;
  resource_type: string | null;
  resource_id: string | null;
  result: AuditResult;
  status: number;
  reason: string;
  stage: string;
  enforcement: string;
  would_deny_reason: string | null;
  would_deny_stage: string | null;
  would_deny_status: number | null;
  route: string | null;
  method: string;
  path: string;
  transport: string;
  policy_revision: string | null;
  fga_model_id: string | null;
  budget: Record<string, unknown> | null;
  latency_ms: number;
  client_ip: string | null;
  request_id: string;
  trace_id: string | null;
  /** Compliance controls the decision enforced: the route's, then the policy's (FRAMEWORK:CONTROL identifiers). */
  controls: readonly string[];
}

export function resultOf(d: Decision): AuditResult {
  if (d.allowed) return 'allow';
  // 503 is what every stage/engine failure maps to (unavailable, deadline, errors).
  return d.status === 503 ? 'error' : 'deny';
}

export function toWireEvent(c: CapturedEvent): AuditEventV1 {
  const d = c.decision;
  const p = d.principal;
  const realPrincipal = p !== undefined && p.kind !== 'anonymous';
  return {
    schema_version: AUDIT_SCHEMA_VERSION,
    timestamp: new Date(c.at).toISOString(),
    decision_id: bounded(d.decisionId),
    tenant_id: boundedOrNull(d.resource?.tenant ?? p?.tenant),
    principal: boundedOrNull(p?.id, PRINCIPAL_MAX),
    principal_kind: boundedOrNull(p?.kind),
    principal_tenant: realPrincipal ? boundedOrNull(p.tenant) : null,
    action: boundedOrNull(d.action),
    resource_type: boundedOrNull(d.resource?.type),
    resource_id: boundedOrNull(d.resource?.id, PRINCIPAL_MAX),
    result: resultOf(d),
    status: d.status,
    reason: bounded(d.reason),
    stage: bounded(d.stage),
    enforcement: d.mode,
    would_deny_reason: boundedOrNull(d.wouldDeny?.reason),
    would_deny_stage: boundedOrNull(d.wouldDeny?.stage),
    would_deny_status: d.wouldDeny?.status ?? null,
    route: boundedOrNull(d.route),
    method: bounded(c.method),
    path: bounded(c.path, PATH_MAX),
    transport: c.transport,
    policy_revision: stringAnnotation(d.annotations.policy_revision),
    fga_model_id: stringAnnotation(d.annotations.fga_model_id),
    budget: figures(d.annotations.budget),
    latency_ms: Math.round(d.durationSeconds * 1e6) / 1e3,
    client_ip: boundedOrNull(c.clientIp),
    request_id: bounded(c.requestId),
    trace_id: traceIdFrom(c.traceparent),
    controls: mergeControls(d.controls ?? NO_CONTROLS, policyControls(d.annotations.controls)),
  };
}

/** The policy stage validated these (src/policy/result.ts); anything else is left out. */
function policyControls(v: unknown): readonly string[] | undefined {
  return Array.isArray(v) && v.length <= MAX_CONTROLS && v.every(isControl) ? (v as string[]) : undefined;
}

function stringAnnotation(v: unknown): string | null {
  if (typeof v === 'string') return bounded(v);
  if (typeof v === 'number') return String(v);
  return null;
}

/**
 * Budget figures: numbers, strings and booleans only, at most two levels deep
 * (e.g. {cost, daily: {used, limit}}). Anything else a stage put there is left out.
 */
function figures(v: unknown, depth = 0): Record<string, unknown> | null {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
  const out: Record<string, unknown> = {};
  let any = false;
  let keys = 0;
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (++keys > BUDGET_KEYS_MAX) break;
    if (typeof x === 'number' || typeof x === 'boolean') {
      out[bounded(k, 64)] = x;
      any = true;
    } else if (typeof x === 'string') {
      out[bounded(k, 64)] = bounded(x);
      any = true;
    } else if (depth === 0) {
      const nested = figures(x, 1);
      if (nested !== null) {
        out[bounded(k, 64)] = nested;
        any = true;
      }
    }
  }
  return any ? out : null;
}

/** The event's JSON text, as appended to the trail (before the chain fields). */
export function eventJson(decision: Decision, req: AuthzRequest): string {
  CAPTURE.at = Date.now();
  CAPTURE.decision = decision;
  CAPTURE.requestId = req.requestId;
  CAPTURE.clientIp = req.source.address;
  CAPTURE.traceparent = req.headers.traceparent;
  CAPTURE.method = req.method;
  CAPTURE.path = req.path;
  CAPTURE.transport = req.transport;
  return JSON.stringify(toWireEvent(CAPTURE));
}

/** One capture reused by eventJson (synchronous, on one thread): no allocation per decision for it. */
const CAPTURE: { -readonly [K in keyof CapturedEvent]: CapturedEvent[K] } = {
  at: 0, decision: undefined as unknown as Decision, requestId: '', clientIp: undefined, traceparent: undefined,
  method: '', path: '', transport: '',
};
