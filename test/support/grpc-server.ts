// Starts our gRPC server on an ephemeral loopback port with a stub decide()
// and builds the Decisions a stub returns.
import { randomUUID } from 'node:crypto';
import { DECISION_ID_HEADER, type AuthzRequest, type Decision, type DenyStatus } from '../../src/decision/types.js';
import { createLogger } from '../../src/observability/logger.js';
import { startGrpcServer, type GrpcServerOptions } from '../../src/transport/grpc/server.js';

export const silentLog = createLogger('silent');

export type Decide = GrpcServerOptions['decide'];

export async function startStubServer(
  decide: Decide,
  extra: Partial<GrpcServerOptions> = {},
): Promise<{ port: number; close(): Promise<void> }> {
  return startGrpcServer({ host: '127.0.0.1', port: 0, decide, log: silentLog, isServing: () => true, ...extra });
}

export function allowDecision(
  upstreamHeaders: Record<string, string> = {},
  responseHeaders: Record<string, string> = {},
): Decision {
  const decisionId = randomUUID();
  return {
    decisionId, allowed: true, status: 200, reason: 'allowed', stage: 'engine', mode: 'deny',
    upstreamHeaders: { [DECISION_ID_HEADER]: decisionId, ...upstreamHeaders },
    responseHeaders: { [DECISION_ID_HEADER]: decisionId, ...responseHeaders },
    annotations: {}, durationSeconds: 0,
  };
}

export function denyDecision(status: DenyStatus, reason: string, extra: Partial<Decision> = {}): Decision {
  const decisionId = randomUUID();
  return {
    decisionId, allowed: false, status, reason, stage: 'test', mode: 'deny',
    upstreamHeaders: {}, responseHeaders: { [DECISION_ID_HEADER]: decisionId },
    annotations: {}, durationSeconds: 0, ...extra,
  };
}

/** Records what decide() was called with. */
export function recordingDecide(answer: (req: AuthzRequest) => Decision | Promise<Decision>) {
  const seen: Array<{ req: AuthzRequest; deadlineMs: number | undefined }> = [];
  const decide: Decide = (req, deadlineMs) => {
    seen.push({ req, deadlineMs });
    return answer(req);
  };
  return { decide, seen };
}
