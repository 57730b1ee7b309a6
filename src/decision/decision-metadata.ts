// What a decision tells the proxy in front of it for its access log: the gRPC
// CheckResponse's dynamic_metadata (Envoy: %DYNAMIC_METADATA(envoy.filters.
// http.ext_authz:<field>)%) and, from the HTTP transport, the same values as
// response headers. One registry of the fields, their header names and their
// values, so the two transports cannot drift.
import { DECISION_ID_HEADER, PRINCIPAL_HEADER, TENANT_HEADER } from './owned-headers.js';
import type { Decision } from './types.js';

export const DECISION_METADATA_FIELDS = ['decision_id', 'reason', 'stage', 'principal', 'tenant', 'route', 'action'] as const;
export type DecisionMetadataField = (typeof DECISION_METADATA_FIELDS)[number];

/** Sent unless `decision_metadata.fields` says otherwise: nothing about who the caller is. */
export const DEFAULT_DECISION_METADATA: readonly DecisionMetadataField[] = ['decision_id', 'reason', 'stage'];

/**
 * The HTTP response header carrying each field, all under the owned `x-authz-`
 * prefix (owned-headers.ts). principal and tenant are the same headers (and
 * values) an allowed request carries upstream.
 */
export const DECISION_METADATA_HEADERS: Readonly<Record<DecisionMetadataField, string>> = {
  decision_id: DECISION_ID_HEADER,
  reason: 'x-authz-reason',
  stage: 'x-authz-stage',
  principal: PRINCIPAL_HEADER,
  tenant: TENANT_HEADER,
  route: 'x-authz-route',
  action: 'x-authz-action',
};

/**
 * The field's value for this decision, or undefined when the decision has
 * none (no principal before identity, no route on no_route...). principal
 * and tenant are the principal's (never a tenant the request merely named).
 */
export function decisionMetadataValue(decision: Decision, field: DecisionMetadataField): string | undefined {
  switch (field) {
    case 'decision_id': return decision.decisionId;
    case 'reason': return decision.reason;
    case 'stage': return decision.stage;
    case 'principal': return decision.principal?.id;
    case 'tenant': return decision.principal?.tenant;
    case 'route': return decision.route;
    case 'action': return decision.action;
  }
}
