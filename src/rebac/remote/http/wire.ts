// OpenFGA's HTTP API as JSON, for the calls this client makes by hand:
// request bodies in the shapes of openfga/v1/openfga_service.proto's HTTP
// bindings (the ones @openfga/sdk sends), and strict readers of the answers.
// An answer that is not exactly what the API defines — not JSON, `allowed`
// not a boolean, a batch item missing, a change page longer than asked —
// is `malformed`: a fail-closed error, never an answer and never cached.
import type { FgaCheck } from '../../checker.js';
import type { TupleKey } from '../../model/types.js';
import { UpstreamError, upstreamErrorKindOf } from '../upstream-error.js';
import type { UpstreamResponse } from './upstream-http.js';

/** OpenFGA's consistency preference; absent means the server's default (MINIMIZE_LATENCY). */
export type Consistency = 'MINIMIZE_LATENCY' | 'HIGHER_CONSISTENCY';

export interface TupleChange {
  readonly tuple_key: TupleKey;
  readonly operation: string;
}

export interface ChangePage {
  readonly changes: readonly TupleChange[];
  readonly continuationToken: string;
}

/** One answer of a BatchCheck: allowed, or the item's own error. */
export type BatchItemOutcome = { readonly allowed: boolean } | { readonly error: UpstreamError };

function checkFields(c: FgaCheck): Record<string, unknown> {
  const out: Record<string, unknown> = { tuple_key: { user: c.user, relation: c.relation, object: c.object } };
  if (c.contextualTuples !== undefined && c.contextualTuples.length > 0) out.contextual_tuples = { tuple_keys: c.contextualTuples };
  if (c.context !== undefined) out.context = c.context;
  return out;
}

export function checkBody(c: FgaCheck, modelId: string, consistency: Consistency | undefined): string {
  const body = checkFields(c);
  body.authorization_model_id = modelId;
  if (consistency !== undefined) body.consistency = consistency;
  return JSON.stringify(body);
}

/** Correlation ids are the checks' positions: `c0`, `c1`, ... */
export function batchCheckBody(checks: readonly FgaCheck[], modelId: string, consistency: Consistency | undefined): string {
  const body: Record<string, unknown> = {
    checks: checks.map((c, i) => {
      const item = checkFields(c);
      item.correlation_id = `c${i}`;
      return item;
    }),
    authorization_model_id: modelId,
  };
  if (consistency !== undefined) body.consistency = consistency;
  return JSON.stringify(body);
}

export function readChangesQuery(pageSize: number, continuationToken: string | undefined, startTime: string | undefined): string {
  let q = `?page_size=${pageSize}`;
  if (continuationToken !== undefined) q += `&continuation_token=${encodeURIComponent(continuationToken)}`;
  else if (startTime !== undefined) q += `&start_time=${encodeURIComponent(startTime)}`;
  return q;
}

function parse(res: UpstreamResponse, op: string): unknown {
  try {
    return JSON.parse(res.body.toString('utf8'));
  } catch {
    throw new UpstreamError('malformed', `OpenFGA ${op} answered HTTP ${res.status} with a body that is not JSON`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Non-2xx: the API's error, by status, with its message as @openfga/sdk reports it. */
export function statusError(res: UpstreamResponse, op: string): UpstreamError {
  const s = res.status;
  let message: string | undefined;
  try {
    const b = JSON.parse(res.body.toString('utf8')) as unknown;
    if (isObject(b) && typeof b.message === 'string' && b.message !== '') message = b.message;
  } catch {
    // not JSON: the status says enough
  }
  const kind = upstreamErrorKindOf(s);
  const text = message ?? `OpenFGA ${op} answered HTTP ${s}`;
  const retry = res.retryAfterS !== undefined ? ` (Retry-After ${res.retryAfterS} s)` : '';
  return new UpstreamError(kind, kind === 'bad_request' ? text : `HTTP ${s}: ${text}${retry}`, res.retryAfterS);
}

export function readCheckAnswer(res: UpstreamResponse): boolean {
  if (res.status !== 200) throw statusError(res, 'check');
  const b = parse(res, 'check');
  if (!isObject(b) || typeof b.allowed !== 'boolean') throw new UpstreamError('malformed', 'OpenFGA check answer has no boolean allowed');
  return b.allowed;
}

export function readBatchCheckAnswer(res: UpstreamResponse, count: number): BatchItemOutcome[] {
  if (res.status !== 200) throw statusError(res, 'batch_check');
  const b = parse(res, 'batch_check');
  const result = isObject(b) ? b.result : undefined;
  if (!isObject(result)) throw new UpstreamError('malformed', 'OpenFGA batch-check answer has no result object');
  const out = new Array<BatchItemOutcome>(count);
  for (let i = 0; i < count; i++) {
    const r = result[`c${i}`];
    if (!isObject(r)) throw new UpstreamError('malformed', `OpenFGA batch-check answered no result for check #${i + 1}`);
    const e = r.error;
    if (isObject(e) && (e.input_error !== undefined || e.internal_error !== undefined || (typeof e.message === 'string' && e.message !== ''))) {
      const kind = e.internal_error !== undefined ? 'http_5xx' : 'bad_request';
      out[i] = { error: new UpstreamError(kind, `${String(e.input_error ?? e.internal_error ?? '')}: ${typeof e.message === 'string' ? e.message : ''}`) };
      continue;
    }
    // The same rule as Check: one item without a boolean makes the whole answer untrustworthy.
    if (typeof r.allowed !== 'boolean') throw new UpstreamError('malformed', `OpenFGA batch-check result for check #${i + 1} has no boolean allowed`);
    out[i] = { allowed: r.allowed };
  }
  return out;
}

export function readChangesAnswer(res: UpstreamResponse, pageSize: number): ChangePage {
  if (res.status !== 200) throw statusError(res, 'read_changes');
  const b = parse(res, 'read_changes');
  if (!isObject(b)) throw new UpstreamError('malformed', 'OpenFGA read-changes answer is not an object');
  const raw = b.changes ?? [];
  if (!Array.isArray(raw)) throw new UpstreamError('malformed', 'OpenFGA read-changes answer: changes is not a list');
  if (raw.length > pageSize) {
    throw new UpstreamError('malformed', `OpenFGA read-changes answered ${raw.length} changes for page_size ${pageSize}`);
  }
  const changes: TupleChange[] = [];
  for (const c of raw) {
    const tk = isObject(c) ? c.tuple_key : undefined;
    if (!isObject(tk) || typeof tk.object !== 'string' || typeof tk.user !== 'string' || typeof tk.relation !== 'string') {
      throw new UpstreamError('malformed', 'OpenFGA read-changes answer: a change without a tuple_key');
    }
    changes.push({ tuple_key: tk as unknown as TupleKey, operation: String((c as Record<string, unknown>).operation) });
  }
  const token = b.continuation_token ?? '';
  if (typeof token !== 'string') throw new UpstreamError('malformed', 'OpenFGA read-changes answer: continuation_token is not a string');
  return { changes, continuationToken: token };
}
