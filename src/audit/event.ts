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

/**
 * The event's JSON text, as appended to the trail (before the chain fields):
 * exactly `JSON.stringify(toWireEvent(captureEvent(decision, req)))`, byte for
 * byte (test/audit/event-json.test.ts holds it to that), written as one
 * template of the fixed v1 shape instead of an object stringified: no object
 * per decision, and the constant keys are not escaped again every time.
 * `at` is the decision time (Date.now() unless given, for the tests).
 */
export function eventJson(decision: Decision, req: AuthzRequest, at: number = Date.now()): string {
  const d = decision;
  const a = d.annotations;
  return '{"schema_version":1,"timestamp":"' + isoTime(at)
    + '","decision_id":' + str(bounded(d.decisionId))
    + middleJson(d, req)
    + ',"budget":' + figuresJson(a.budget)
    + ',"latency_ms":' + num(Math.round(d.durationSeconds * 1e6) / 1e3)
    + ',"client_ip":' + last.clientIp.of(req.source.address)
    + ',"request_id":' + str(bounded(req.requestId))
    + ',"trace_id":' + nullable(traceIdFrom(req.headers.traceparent))
    + ',"controls":' + stringArray(mergeControls(d.controls ?? NO_CONTROLS, policyControls(a.controls)))
    + '}';
}

/**
 * The members from tenant_id to fga_model_id: who, what, the outcome, the
 * route and the request line. Under traffic they are mostly the same as the
 * previous decision's (one tenant, principal and route at a time), so the
 * whole segment is kept with the values it was written from and reused while
 * every one of them is the same: one piece in the event instead of ~40, each
 * of which the decision thread would concatenate and the UTF-8 encoder walk.
 */
const middle: { key: unknown[]; text: string } = { key: [], text: '' };
const MIDDLE_KEYS = 21;
const ANONYMOUS: unique symbol = Symbol('anonymous principal');

function middleJson(d: Decision, req: AuthzRequest): string {
  const p = d.principal;
  const w = d.wouldDeny;
  const a = d.annotations;
  const k = middle.key;
  const tenant = d.resource?.tenant ?? p?.tenant;
  const principalTenant = p !== undefined && p.kind !== 'anonymous' ? p.tenant : ANONYMOUS;
  if (k.length === MIDDLE_KEYS && k[0] === tenant && k[1] === p?.id && k[2] === p?.kind && k[3] === principalTenant
    && k[4] === d.action && k[5] === d.resource?.type && k[6] === d.resource?.id && k[7] === d.allowed && k[8] === d.status
    && k[9] === d.reason && k[10] === d.stage && k[11] === d.mode && k[12] === w?.reason && k[13] === w?.stage
    && k[14] === w?.status && k[15] === d.route && k[16] === req.method && k[17] === req.path && k[18] === req.transport
    && k[19] === a.policy_revision && k[20] === a.fga_model_id) {
    return middle.text;
  }
  const text = ',"tenant_id":' + last.tenant.of(tenant)
    + ',"principal":' + last.principal.of(p?.id)
    + ',"principal_kind":' + last.principalKind.of(p?.kind)
    + ',"principal_tenant":' + (principalTenant === ANONYMOUS ? 'null' : last.principalTenant.of(principalTenant))
    + ',"action":' + last.action.of(d.action)
    + ',"resource_type":' + last.resourceType.of(d.resource?.type)
    + ',"resource_id":' + last.resourceId.of(d.resource?.id)
    + ',"result":"' + resultOf(d)
    + '","status":' + num(d.status)
    + ',"reason":' + last.reason.of(d.reason)
    + ',"stage":' + last.stage.of(d.stage)
    + ',"enforcement":' + last.enforcement.of(d.mode)
    + ',"would_deny_reason":' + strOrNull(w?.reason)
    + ',"would_deny_stage":' + strOrNull(w?.stage)
    + ',"would_deny_status":' + (w?.status === undefined || w.status === null ? 'null' : num(w.status))
    + ',"route":' + last.route.of(d.route)
    + ',"method":' + last.method.of(req.method)
    + ',"path":' + last.path.of(req.path)
    + ',"transport":' + last.transport.of(req.transport)
    + ',"policy_revision":' + last.policyRevision.of(a.policy_revision)
    + ',"fga_model_id":' + last.fgaModelId.of(a.fga_model_id);
  // Flat once, here, rather than a rope walked again by every event that reuses it.
  middle.text = flat(text);
  middle.key = [tenant, p?.id, p?.kind, principalTenant, d.action, d.resource?.type, d.resource?.id, d.allowed, d.status,
    d.reason, d.stage, d.mode, w?.reason, w?.stage, w?.status, d.route, req.method, req.path, req.transport,
    a.policy_revision, a.fga_model_id];
  return middle.text;
}

/** `s` as a flat (sequential) string: V8 flattens a concatenation when a regular expression reads it. */
function flat(s: string): string {
  FLATTEN.test(s);
  return s;
}
const FLATTEN = /^/;

/**
 * A field's JSON text for the last value it held. Most fields repeat from
 * one decision to the next (the same tenant, principal, route, reason,
 * path…): their text is reused instead of escape-checked and concatenated
 * again on the decision thread. `text` is a pure function of the value, so
 * the output is what computing it every time gives.
 */
class LastText<V> {
  private value: V | typeof UNSET = UNSET;
  private text = '';

  constructor(private readonly textOf: (v: V) => string) {}

  of(v: V): string {
    if (v !== this.value) {
      this.text = this.textOf(v); // a throw leaves the memo as it was
      this.value = v;
    }
    return this.text;
  }
}

const UNSET: unique symbol = Symbol('unset');

type Maybe = string | undefined | null;
const orNull = (max: number) => (s: Maybe): string => strOrNull(s, max);
const plain = (max: number) => (s: string): string => str(bounded(s, max));

/** The fields memoized (not decision_id, request_id, trace_id: unique per decision). */
const last = {
  tenant: new LastText<Maybe>(orNull(FIELD_MAX)),
  principal: new LastText<Maybe>(orNull(PRINCIPAL_MAX)),
  principalKind: new LastText<Maybe>(orNull(FIELD_MAX)),
  principalTenant: new LastText<Maybe>(orNull(FIELD_MAX)),
  action: new LastText<Maybe>(orNull(FIELD_MAX)),
  resourceType: new LastText<Maybe>(orNull(FIELD_MAX)),
  resourceId: new LastText<Maybe>(orNull(PRINCIPAL_MAX)),
  reason: new LastText<string>(plain(FIELD_MAX)),
  stage: new LastText<string>(plain(FIELD_MAX)),
  enforcement: new LastText<string>(str),
  route: new LastText<Maybe>(orNull(FIELD_MAX)),
  method: new LastText<string>(plain(FIELD_MAX)),
  path: new LastText<string>(plain(PATH_MAX)),
  transport: new LastText<string>(str),
  policyRevision: new LastText<unknown>(stringAnnotationJson),
  fgaModelId: new LastText<unknown>(stringAnnotationJson),
  clientIp: new LastText<Maybe>(orNull(FIELD_MAX)),
};

/** Characters JSON.stringify escapes in a string (quote, backslash, controls, lone surrogate halves). */
// eslint-disable-next-line no-control-regex -- control characters are exactly what JSON must escape
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** A JSON string literal, as JSON.stringify writes it (its own escaping when there is anything to escape). */
function str(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : '"' + s + '"';
}

function nullable(s: string | null): string {
  return s === null ? 'null' : str(s);
}

function strOrNull(s: string | undefined | null, max = FIELD_MAX): string {
  return s === undefined || s === null ? 'null' : str(bounded(String(s), max));
}

/** A number as JSON.stringify writes it (NaN and the infinities become null). */
function num(n: number): string {
  return Number.isFinite(n) ? String(n) : 'null';
}

function stringAnnotationJson(v: unknown): string {
  if (typeof v === 'string') return str(bounded(v));
  if (typeof v === 'number') return '"' + String(v) + '"';
  return 'null';
}

function stringArray(a: readonly string[]): string {
  if (a.length === 0) return '[]';
  let out = '[' + str(a[0] as string);
  for (let i = 1; i < a.length; i++) out += ',' + str(a[i] as string);
  return out + ']';
}

/**
 * `figures(v)` as JSON text. A key JSON.stringify would put elsewhere or drop
 * (an integer-like key goes first, `__proto__` is no own property) or that
 * the bound could merge with another takes the object path, so the text is
 * always what stringifying the figures object gives.
 */
function figuresJson(v: unknown, depth = 0): string {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return 'null';
  let out = '';
  let keys = 0;
  for (const k in v as Record<string, unknown>) {
    if (!Object.prototype.hasOwnProperty.call(v, k)) continue;
    if (++keys > BUDGET_KEYS_MAX) break;
    const member = memberPrefix(k);
    if (member === undefined) return JSON.stringify(figures(v, depth));
    const x = (v as Record<string, unknown>)[k];
    let text: string;
    if (typeof x === 'number') text = num(x);
    else if (typeof x === 'boolean') text = x ? 'true' : 'false';
    else if (typeof x === 'string') text = str(bounded(x));
    else if (depth === 0) {
      text = figuresJson(x, 1);
      if (text === 'null') continue;
    } else continue;
    out += (out === '' ? '{' : ',') + member + text;
  }
  return out === '' ? 'null' : out + '}';
}

/** Keys a JS object orders before the others (array indices). */
const INTEGER_KEY = /^(?:0|[1-9]\d*)$/;

/**
 * Each budget key's `"key":` text, or undefined for a key that takes the
 * object path. The budget stage writes the same few keys into every
 * decision: remembering them saves two regular expressions and a
 * concatenation per key per decision (about a third of the event's cost).
 */
const memberPrefixes = new Map<string, string | undefined>();
const MEMBER_PREFIXES_MAX = 256;

function memberPrefix(k: string): string | undefined {
  if (k.length > 64) return undefined; // never remembered: the map holds short keys only
  let prefix = memberPrefixes.get(k);
  if (prefix !== undefined || memberPrefixes.has(k)) return prefix;
  prefix = k === '__proto__' || INTEGER_KEY.test(k) ? undefined : str(k) + ':';
  if (memberPrefixes.size >= MEMBER_PREFIXES_MAX) memberPrefixes.clear();
  memberPrefixes.set(k, prefix);
  return prefix;
}

/** toISOString of the last time asked for: several decisions share a millisecond under load. */
let lastAt = NaN;
let lastIso = '';
function isoTime(at: number): string {
  if (at !== lastAt) {
    lastAt = at;
    lastIso = new Date(at).toISOString();
  }
  return lastIso;
}
