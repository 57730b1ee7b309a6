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
 * route and the request line, as five segments, each kept with the values
 * it was written from and reused while they are the same — one piece in the
 * event instead of a dozen, none of which the decision thread escape-checks
 * and concatenates again. Segments rather than one memo of the whole: under
 * varied traffic (principals and resources change from one decision to the
 * next) the outcome, the route and the policy revision still repeat, and a
 * principal's segment is kept per principal object (a verified token's
 * principal is one frozen object shared by its requests).
 */
function middleJson(d: Decision, req: AuthzRequest): string {
  return whoJson(d) + whatJson(d) + outcomeJson(d, req) + last.path.of(req.path) + tailJson(d, req);
}

const ANONYMOUS: unique symbol = Symbol('anonymous principal');

/** tenant_id … principal_tenant, per frozen principal object (with the tenant it was written for). */
const whoTexts = new WeakMap<object, { tenant: string | undefined; text: string }>();

function whoJson(d: Decision): string {
  const p = d.principal;
  const tenant = d.resource?.tenant ?? p?.tenant;
  if (p !== undefined) {
    const known = whoTexts.get(p);
    if (known !== undefined && known.tenant === tenant) return known.text;
  }
  const principalTenant = p !== undefined && p.kind !== 'anonymous' ? p.tenant : ANONYMOUS;
  const text = flat(',"tenant_id":' + last.tenant.of(tenant)
    + ',"principal":' + last.principal.of(p?.id)
    + ',"principal_kind":' + last.principalKind.of(p?.kind)
    + ',"principal_tenant":' + (principalTenant === ANONYMOUS ? 'null' : last.principalTenant.of(principalTenant)));
  // Only a frozen principal cannot change after its text was written.
  if (p !== undefined && Object.isFrozen(p)) whoTexts.set(p, { tenant, text });
  return text;
}

/** A segment's text and the values it was written from. */
interface Kept {
  key: unknown[];
  text: string;
}

const what: Kept = { key: [], text: '' };

/** action, resource_type, resource_id. */
function whatJson(d: Decision): string {
  const r = d.resource;
  const k = what.key;
  if (k.length === 3 && k[0] === d.action && k[1] === r?.type && k[2] === r?.id) return what.text;
  what.text = flat(',"action":' + last.action.of(d.action)
    + ',"resource_type":' + last.resourceType.of(r?.type)
    + ',"resource_id":' + last.resourceId.of(r?.id));
  what.key = [d.action, r?.type, r?.id];
  return what.text;
}

const outcome: Kept = { key: [], text: '' };

/** result … route, method: what the route decided, the same for most of a route's decisions. */
function outcomeJson(d: Decision, req: AuthzRequest): string {
  const w = d.wouldDeny;
  const k = outcome.key;
  if (k.length === 10 && k[0] === d.allowed && k[1] === d.status && k[2] === d.reason && k[3] === d.stage && k[4] === d.mode
    && k[5] === w?.reason && k[6] === w?.stage && k[7] === w?.status && k[8] === d.route && k[9] === req.method) {
    return outcome.text;
  }
  outcome.text = flat(',"result":"' + resultOf(d)
    + '","status":' + num(d.status)
    + ',"reason":' + last.reason.of(d.reason)
    + ',"stage":' + last.stage.of(d.stage)
    + ',"enforcement":' + last.enforcement.of(d.mode)
    + ',"would_deny_reason":' + strOrNull(w?.reason)
    + ',"would_deny_stage":' + strOrNull(w?.stage)
    + ',"would_deny_status":' + (w?.status === undefined || w.status === null ? 'null' : num(w.status))
    + ',"route":' + last.route.of(d.route)
    + ',"method":' + last.method.of(req.method));
  outcome.key = [d.allowed, d.status, d.reason, d.stage, d.mode, w?.reason, w?.stage, w?.status, d.route, req.method];
  return outcome.text;
}

const tail: Kept = { key: [], text: '' };

/** transport, policy_revision, fga_model_id. */
function tailJson(d: Decision, req: AuthzRequest): string {
  const a = d.annotations;
  const k = tail.key;
  if (k.length === 3 && k[0] === req.transport && k[1] === a.policy_revision && k[2] === a.fga_model_id) return tail.text;
  tail.text = flat(',"transport":' + last.transport.of(req.transport)
    + ',"policy_revision":' + last.policyRevision.of(a.policy_revision)
    + ',"fga_model_id":' + last.fgaModelId.of(a.fga_model_id));
  tail.key = [req.transport, a.policy_revision, a.fga_model_id];
  return tail.text;
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
  /** With its member name: the segment between the outcome and the tail. */
  path: new LastText<string>((p: string): string => ',"path":' + str(bounded(p, PATH_MAX))),
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
