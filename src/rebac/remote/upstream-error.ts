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
    return new UpstreamError(upstreamErrorKindOf(s), `HTTP ${s}: ${apiMessage(err)}`);
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

/** What an OpenFGA HTTP status means for the breaker, metrics and the reason code (the SDK path and the undici path agree). */
export function upstreamErrorKindOf(status: number): UpstreamErrorKind {
  return status === 400 || status === 422 ? 'bad_request'
    : status === 401 || status === 403 ? 'auth'
    : status === 404 ? 'not_found'
    : status === 429 ? 'http_429'
    : status >= 500 ? 'http_5xx'
    : 'other';
}
