// Decision → envoy.service.auth.v3.CheckResponse, as the plain object
// protobufjs encodes. Envoy reads `status.code`: OK allows, anything else
// denies and sends `denied_response` downstream. The server writes the same
// message by hand (check-response-writer.ts); this object form is the readable
// definition of what it writes, and the tests hold the two byte-for-byte equal.
import { ownedHeadersToRemove } from '../../decision/owned-headers.js';
import { DECISION_ID_HEADER, type Decision } from '../../decision/types.js';
import { denyBody } from '../decision-response.js';
import { headerValue } from '../header-value.js';
import { GrpcCode } from './grpc-status.js';

// HeaderValueOption.HeaderAppendAction. Only append_action is set, never the
// deprecated `append`: Envoy rejects options that set both, and an Envoy too
// old to know append_action treats an unset `append` as "replace" — the same
// overwrite semantics either way, so a stage's header can never be appended to
// a client-supplied value of the same name.
export const OVERWRITE_IF_EXISTS_OR_ADD = 2;

const DENY_CODE: Readonly<Record<number, GrpcCode>> = {
  401: GrpcCode.UNAUTHENTICATED,
  403: GrpcCode.PERMISSION_DENIED,
  429: GrpcCode.RESOURCE_EXHAUSTED,
  503: GrpcCode.UNAVAILABLE,
};

interface HeaderOption {
  header: { key: string; value: string };
  appendAction: number;
}

export function grpcCodeForDeny(status: number): GrpcCode {
  return DENY_CODE[status] ?? GrpcCode.PERMISSION_DENIED;
}

/**
 * On allow, every owned header (owned-headers.ts) the decision does not set is
 * in headers_to_remove, so a client-sent one never reaches the upstream;
 * `requestHeaders` adds owned names the request carries (x-budget-remaining-…).
 */
export function checkResponseFor(
  decision: Decision,
  requestHeaders?: ReadonlyArray<readonly [string, string]>,
): Record<string, unknown> {
  const dynamicMetadata = {
    fields: {
      decision_id: { stringValue: decision.decisionId },
      reason: { stringValue: decision.reason },
    },
  };
  if (decision.allowed) {
    return {
      status: { code: GrpcCode.OK },
      okResponse: {
        headers: headerOptions(decision.upstreamHeaders, decision.decisionId),
        headersToRemove: [...ownedHeadersToRemove(decision.upstreamHeaders, requestHeaders).names],
        responseHeadersToAdd: headerOptions(decision.responseHeaders, decision.decisionId),
      },
      dynamicMetadata,
    };
  }
  const headers = headerOptions(decision.responseHeaders, decision.decisionId);
  if (!hasHeader(decision.responseHeaders, 'content-type')) {
    headers.push({ header: { key: 'content-type', value: 'application/json' }, appendAction: OVERWRITE_IF_EXISTS_OR_ADD });
  }
  return {
    status: { code: grpcCodeForDeny(decision.status), message: decision.reason },
    deniedResponse: { status: { code: decision.status }, headers, body: denyBody(decision) },
    dynamicMetadata,
  };
}

/** Every header overwrites; the decision id is always present so Envoy's logs and the client's can be joined. */
function headerOptions(headers: Readonly<Record<string, string>>, decisionId: string): HeaderOption[] {
  const out: HeaderOption[] = [];
  for (const key in headers) {
    out.push({ header: { key, value: headerValue(headers[key]!) }, appendAction: OVERWRITE_IF_EXISTS_OR_ADD });
  }
  if (headers[DECISION_ID_HEADER] === undefined) {
    out.push({ header: { key: DECISION_ID_HEADER, value: decisionId }, appendAction: OVERWRITE_IF_EXISTS_OR_ADD });
  }
  return out;
}

function hasHeader(headers: Readonly<Record<string, string>>, name: string): boolean {
  for (const key in headers) if (key.toLowerCase() === name) return true;
  return false;
}
