// The Decision as printed by `authz-sidecar check` and logged: snake_case,
// no credentials (a principal's claims are its verified payload, never the token).
import type { Decision } from './types.js';

export function decisionToJson(d: Decision): Record<string, unknown> {
  return {
    decision_id: d.decisionId,
    allowed: d.allowed,
    status: d.status,
    reason: d.reason,
    stage: d.stage,
    mode: d.mode,
    ...(d.wouldDeny ? { would_deny: d.wouldDeny } : {}),
    ...(d.principal
      ? { principal: { id: d.principal.id, kind: d.principal.kind, tenant: d.principal.tenant, roles: d.principal.roles, source: d.principal.source } }
      : {}),
    ...(d.action !== undefined ? { action: d.action } : {}),
    ...(d.resource ? { resource: d.resource } : {}),
    ...(d.route !== undefined ? { route: d.route } : {}),
    upstream_headers: d.upstreamHeaders,
    response_headers: d.responseHeaders,
    ...(d.body !== undefined ? { body: d.body } : {}),
    annotations: d.annotations,
    duration_ms: Math.round(d.durationSeconds * 1e6) / 1e3,
  };
}
