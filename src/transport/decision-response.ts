// The JSON body of a denial, shared by the HTTP transports (gRPC puts the same
// body into DeniedHttpResponse). Kept stable: clients parse it.
import type { Decision } from '../decision/types.js';

const STATUS_TEXT: Record<number, string> = {
  401: 'unauthenticated',
  403: 'forbidden',
  429: 'too many requests',
  503: 'unavailable',
};

export function denyBody(decision: Decision): string {
  if (decision.body !== undefined) return decision.body;
  return JSON.stringify({
    error: STATUS_TEXT[decision.status] ?? 'denied',
    reason: decision.reason,
    decision_id: decision.decisionId,
  });
}
