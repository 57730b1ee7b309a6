// What an upstream failure means for the client: refused, reset or closed
// connections are 502 upstream_unavailable; a connect, response-header or
// body timeout is 504 upstream_timeout. Anything unrecognised is treated as
// unavailable (fail closed: the client never sees a half answer as success).
import { errors } from 'undici';
import { RequestBodyLimit } from './request-body-guard.js';
import type { ProxyOutcome } from './proxy-metrics.js';

export interface UpstreamFailure {
  readonly outcome: Exclude<ProxyOutcome, 'ok' | 'upgraded'>;
  readonly status: 408 | 413 | 499 | 502 | 504;
}

export function classifyUpstreamError(err: unknown, clientGone: boolean): UpstreamFailure {
  if (clientGone) return { outcome: 'client_abort', status: 499 };
  if (err instanceof RequestBodyLimit) return { outcome: err.kind, status: err.kind === 'body_too_large' ? 413 : 408 };
  const cause = err instanceof Error && err.cause instanceof RequestBodyLimit ? err.cause : undefined;
  if (cause) return { outcome: cause.kind, status: cause.kind === 'body_too_large' ? 413 : 408 };
  if (
    err instanceof errors.ConnectTimeoutError ||
    err instanceof errors.HeadersTimeoutError ||
    err instanceof errors.BodyTimeoutError
  ) {
    return { outcome: 'upstream_timeout', status: 504 };
  }
  return { outcome: 'upstream_unavailable', status: 502 };
}
