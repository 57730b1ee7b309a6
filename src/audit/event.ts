// The audit event: what one decision leaves behind. `captureEvent` runs on the
// decision path, so it only copies fields (no formatting, no I/O); the
// flusher turns the capture into the versioned wire form (`toWireEvent`).
// Never copied: tokens, credentials, headers other than traceparent, bodies, query strings.
import type { AuthzRequest, Decision } from '../decision/types.js';
import { traceIdFrom } from './trace-context.js';

export const AUDIT_SCHEMA_VERSION = 1;

export type AuditResult = 'allow' | 'deny' | 'error';

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
    decision_id: d.decisionId,
    tenant_id: d.resource?.tenant ?? p?.tenant ?? null,
    principal: p?.id ?? null,
    principal_kind: p?.kind ?? null,
    principal_tenant: realPrincipal ? (p.tenant ?? null) : null,
    action: d.action ?? null,
    resource_type: d.resource?.type ?? null,
    resource_id: d.resource?.id ?? null,
    result: resultOf(d),
    status: d.status,
    reason: d.reason,
    stage: d.stage,
    enforcement: d.mode,
    would_deny_reason: d.wouldDeny?.reason ?? null,
    would_deny_stage: d.wouldDeny?.stage ?? null,
    would_deny_status: d.wouldDeny?.status ?? null,
    route: d.route ?? null,
    method: c.method,
    path: c.path,
    transport: c.transport,
    policy_revision: stringAnnotation(d.annotations.policy_revision),
    fga_model_id: stringAnnotation(d.annotations.fga_model_id),
    budget: figures(d.annotations.budget),
    latency_ms: Math.round(d.durationSeconds * 1e6) / 1e3,
    client_ip: c.clientIp ?? null,
    request_id: c.requestId,
    trace_id: traceIdFrom(c.traceparent),
  };
}

function stringAnnotation(v: unknown): string | null {
  if (typeof v === 'string') return v;
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
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (typeof x === 'number' || typeof x === 'string' || typeof x === 'boolean') {
      out[k] = x;
      any = true;
    } else if (depth === 0) {
      const nested = figures(x, 1);
      if (nested !== null) {
        out[k] = nested;
        any = true;
      }
    }
  }
  return any ? out : null;
}

/** An event on its way to the sinks: the wire object and its JSON text (serialized once). */
export interface OutboundEvent {
  readonly event: AuditEventV1;
  readonly json: string;
}

export function toOutbound(c: CapturedEvent): OutboundEvent {
  const event = toWireEvent(c);
  return { event, json: JSON.stringify(event) };
}
