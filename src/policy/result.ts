// Turns a policy's result set into a StageResult, accepting what OPA's Envoy
// plugin accepts: a boolean, or an object
//   { allowed, reason?, http_status?, headers?, response_headers_to_add?, body? }.
// Anything else is the policy's bug and denies `policy_error` (fail-closed).
import { MAX_CONTROLS, isControl } from '../decision/controls.js';
import type { DenyStatus, StageResult } from '../decision/types.js';

export const POLICY_DENIED = 'policy_denied';
export const POLICY_ERROR = 'policy_error';

/** An allow or deny the policy answered, with what it asked the sidecar to add. */
export interface PolicyVerdict {
  readonly result: StageResult;
  /** response_headers_to_add on allow: for the downstream response. */
  readonly responseHeaders?: Readonly<Record<string, string>>;
  /** The compliance controls the policy says this decision enforces. */
  readonly controls?: readonly string[];
}

/** Why a result set is not a decision; the stage denies `policy_error`. */
export class BadPolicyResult extends Error {
  override readonly name = 'BadPolicyResult';
}

const ALLOW: StageResult = Object.freeze({ kind: 'allow' });
const DENY: StageResult = Object.freeze({ kind: 'deny', status: 403, reason: POLICY_DENIED });
const ALLOW_VERDICT: PolicyVerdict = Object.freeze({ result: ALLOW });
const DENY_VERDICT: PolicyVerdict = Object.freeze({ result: DENY });

/** `resultSet` is what opa-wasm returns: `[{ result: <value> }]`, or `[]` when the rule is undefined. */
export function interpretResultSet(resultSet: unknown): PolicyVerdict {
  if (!Array.isArray(resultSet)) throw new BadPolicyResult('result set is not a list');
  if (resultSet.length === 0) throw new BadPolicyResult('the entrypoint is undefined for this input');
  if (resultSet.length > 1) throw new BadPolicyResult('the entrypoint produced more than one result');
  const entry: unknown = resultSet[0];
  if (entry === null || typeof entry !== 'object' || !('result' in entry)) {
    throw new BadPolicyResult('result set entry has no result');
  }
  return interpretDecision((entry as { result: unknown }).result);
}

export function interpretDecision(value: unknown): PolicyVerdict {
  if (value === true) return ALLOW_VERDICT;
  if (value === false) return DENY_VERDICT;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new BadPolicyResult(`result is ${describe(value)}, not a boolean or a decision object`);
  }
  const d = value as Record<string, unknown>;
  if (typeof d.allowed !== 'boolean') throw new BadPolicyResult('decision object needs a boolean "allowed"');
  const headers = d.headers === undefined ? undefined : headerMap(d.headers, 'headers');
  const controls = d.controls === undefined ? undefined : controlList(d.controls);
  if (d.allowed) {
    const responseHeaders =
      d.response_headers_to_add === undefined ? undefined : headerMap(d.response_headers_to_add, 'response_headers_to_add');
    const result: StageResult = headers === undefined ? ALLOW : { kind: 'allow', headers };
    return { result, ...(responseHeaders === undefined ? {} : { responseHeaders }), ...(controls === undefined ? {} : { controls }) };
  }
  const status = denyStatus(d.http_status);
  const reason = d.reason === undefined ? POLICY_DENIED : sanitizeReason(d.reason);
  if (d.body !== undefined && typeof d.body !== 'string') throw new BadPolicyResult('"body" must be a string');
  const result: StageResult = {
    kind: 'deny',
    status,
    reason,
    ...(headers === undefined ? {} : { headers }),
    ...(d.body === undefined ? {} : { body: d.body }),
  };
  return controls === undefined ? { result } : { result, controls };
}

/**
 * A policy's reason becomes a reason code (metrics label, audit, deny body),
 * so it is folded to lower snake_case: runs of anything outside [a-z0-9_]
 * become one '_', and it is cut at 64 characters. "Not Readable!" → "not_readable".
 * An empty result, or a non-string reason, falls back to `policy_denied`.
 */
export function sanitizeReason(reason: unknown): string {
  if (typeof reason !== 'string') return POLICY_DENIED;
  const code = reason
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .replace(/_+/g, '_')
    .slice(0, 64)
    .replace(/^_+|_+$/g, '');
  return code === '' ? POLICY_DENIED : code;
}

/** 401, 403, 429 and 503 pass through; any other status (or none) denies 403. */
export function denyStatus(status: unknown): DenyStatus {
  if (status === undefined) return 403;
  if (typeof status !== 'number' || !Number.isInteger(status)) throw new BadPolicyResult('"http_status" must be an integer');
  return status === 401 || status === 429 || status === 503 ? status : 403;
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;
// Values go onto the wire: no CR, LF or NUL (header injection).
const BAD_VALUE = /[\r\n\0]/;

/** OPA-Envoy header maps: name → string or list of strings (joined with ", "). */
/** A policy's `controls`: a list of FRAMEWORK:CONTROL identifiers, at most MAX_CONTROLS. */
function controlList(v: unknown): readonly string[] {
  if (!Array.isArray(v) || v.length > MAX_CONTROLS || !v.every(isControl)) {
    throw new BadPolicyResult(`"controls" must be a list of at most ${MAX_CONTROLS} FRAMEWORK:CONTROL identifiers`);
  }
  return Object.freeze([...v]);
}

function headerMap(v: unknown, field: string): Record<string, string> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new BadPolicyResult(`"${field}" must be an object`);
  const out: Record<string, string> = {};
  for (const [rawName, raw] of Object.entries(v as Record<string, unknown>)) {
    const name = rawName.toLowerCase();
    if (!HEADER_NAME.test(name)) throw new BadPolicyResult(`"${field}": invalid header name`);
    let value: string;
    if (typeof raw === 'string') value = raw;
    else if (Array.isArray(raw) && raw.every((x) => typeof x === 'string')) value = raw.join(', ');
    else throw new BadPolicyResult(`"${field}.${name}" must be a string or a list of strings`);
    if (BAD_VALUE.test(value)) throw new BadPolicyResult(`"${field}.${name}" contains a control character`);
    out[name] = value;
  }
  return out;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return `a ${typeof v}`;
}
