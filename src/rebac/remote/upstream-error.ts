// What went wrong talking to OpenFGA, in the few kinds the stage, the breaker
// and the metrics care about.
import { FgaApiError, FgaApiValidationError } from '@openfga/sdk';

export type UpstreamErrorKind =
  | 'timeout'
  | 'refused'
  | 'network'
  | 'http_5xx'
  | 'http_429'
  | 'auth'
  | 'not_found'
  | 'bad_request'
  /** An answer that is not what the API defines (not JSON, `allowed` not a boolean, a page longer than asked). */
  | 'malformed'
  /** An answer over the configured byte cap. */
  | 'too_large'
  /** A 3xx: never followed. */
  | 'redirect'
  | 'other';

export class UpstreamError extends Error {
  constructor(
    readonly kind: UpstreamErrorKind,
    message: string,
    /** Seconds the server asked us to wait (Retry-After), when it said. */
    readonly retryAfterS?: number,
  ) {
    super(message);
    this.name = 'UpstreamError';
  }

  /** Whether the failure says something about OpenFGA's health (counts for the breaker). */
  get isOutage(): boolean {
    return this.kind !== 'bad_request';
  }
}

export function classifyUpstreamError(err: unknown): UpstreamError {
  if (err instanceof UpstreamError) return err;
  if (err instanceof FgaApiValidationError) return new UpstreamError('bad_request', apiMessage(err));
  if (err instanceof FgaApiError && typeof err.statusCode === 'number') {
    const s = err.statusCode;
    const kind: UpstreamErrorKind =
      s === 400 || s === 422 ? 'bad_request'
      : s === 401 || s === 403 ? 'auth'
      : s === 404 ? 'not_found'
      : s === 429 ? 'http_429'
      : s >= 500 ? 'http_5xx'
      : 'other';
    return new UpstreamError(kind, `HTTP ${s}: ${apiMessage(err)}`);
  }
  const message = err instanceof Error ? err.message : String(err);
  if (/ECONNREFUSED/.test(message)) return new UpstreamError('refused', message);
  if (/ECONNRESET|EPIPE|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|socket hang up|Network Error/i.test(message)) {
    return new UpstreamError('network', message);
  }
  if (/aborted|canceled|timeout/i.test(message)) return new UpstreamError('timeout', message);
  return new UpstreamError('other', message);
}

function apiMessage(err: FgaApiError): string {
  const m = (err as { apiErrorMessage?: unknown }).apiErrorMessage;
  return typeof m === 'string' && m !== '' ? m : err.message;
}
