// Envoy ext_authz v3 over gRPC, served directly on node:http2.
//
// Why not @grpc/grpc-js: a no-op grpc-js server reaches about half the
// throughput of a no-op node:http2 responder, and this server answers one
// small unary call per proxied request. The gRPC wire protocol for unary calls
// is small — POST, application/grpc, one length-prefixed message each way,
// status in trailers — so we speak it ourselves: CheckRequest and
// CheckResponse are read and written by hand (check-request-reader.ts,
// check-response-writer.ts), the health messages with protobufjs.
//
// Hot path: one state object per stream; every listener is a shared function
// (`this` is the stream); header and trailer objects are frozen constants; when
// decide() answers synchronously the response is written in the same tick.
//
// Health: grpc.health.v1.Health/Check answers SERVING or NOT_SERVING from
// isServing(). Health/Watch answers UNIMPLEMENTED: we have no change
// notification to stream, and a Watch that sent one status and then went
// quiet would report a stale status forever; UNIMPLEMENTED tells a client
// (Kubernetes probes, grpc-health-probe, Envoy) to poll Check instead.
import http2, { type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import { randomUUID } from 'node:crypto';
import type { AuthzRequest, Decision, DenyStatus } from '../../decision/types.js';
import { DEADLINE_EXCEEDED } from '../../decision/reason-codes.js';
import type { Logger } from '../../observability/logger.js';
import type { SidecarMetrics } from '../../observability/metrics.js';
import { authzRequestFromCheck } from '../../request/from-check-request.js';
import { decodeCheckRequest } from './check-request-reader.js';
import { encodeCheckResponseFrame, type DynamicMetadataPlan } from './check-response-writer.js';
import { frameMessage, readUnaryBody } from './grpc-frame.js';
import { createGrpcMetrics, type GrpcMetrics } from './grpc-metrics.js';
import { GrpcCode, encodeGrpcMessage } from './grpc-status.js';
import { parseGrpcTimeout } from './grpc-timeout.js';
import { grpcCodec, type GrpcCodec } from './proto-codec.js';

export interface GrpcServerOptions {
  host: string;
  port: number;
  /** deadlineMs: the budget left by the caller's grpc-timeout (minus headroom to answer), when it sent one. */
  decide: (req: AuthzRequest, deadlineMs?: number) => Decision | Promise<Decision>;
  log: Logger;
  metrics?: SidecarMetrics;
  isServing: () => boolean;
  /**
   * Safety net: if decide() has not settled after this long (or after the
   * grpc-timeout budget, if shorter) the transport denies `deadline_exceeded`.
   * The authorizer keeps its own, shorter deadline; this catches a hang. Default 1000.
   */
  maxDecisionMs?: number;
  /** Largest request message accepted; larger → RESOURCE_EXHAUSTED. Default 4 MiB (gRPC's default). */
  maxMessageBytes?: number;
  /** The dynamic_metadata fields in force (read per response: a reload may change them). Default decision_id, reason, stage. */
  dynamicMetadata?: () => DynamicMetadataPlan;
}

export interface GrpcServerHandle {
  port: number;
  close(): Promise<void>;
}

export const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';
export const HEALTH_CHECK_PATH = '/grpc.health.v1.Health/Check';
/** Service names Health/Check knows: '' (the whole server) and the authorization service. */
const HEALTH_SERVICES = new Set(['', 'envoy.service.auth.v3.Authorization']);

const DEFAULT_MAX_DECISION_MS = 1000;
const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
const CLOSE_GRACE_MS = 2000;

const Rpc = { Check: 1, HealthCheck: 2 } as const;
type Rpc = (typeof Rpc)[keyof typeof Rpc];

const RESPONSE_HEADERS = Object.freeze({ ':status': 200, 'content-type': 'application/grpc' });
const OK_TRAILERS = Object.freeze({ 'grpc-status': '0' });
// The transport only ever writes identity-encoded messages.
const ACCEPT_ENCODING = 'identity';

/** Per-stream state, kept on the stream itself so listeners can be shared functions. */
interface Call {
  readonly server: GrpcAuthzServer;
  readonly rpc: Rpc;
  readonly timeoutMs: number | undefined;
  readonly encoding: string | undefined;
  first: Buffer | undefined;
  rest: Buffer[] | undefined;
  size: number;
  answered: boolean;
  timer: NodeJS.Timeout | undefined;
  malformed: boolean;
}

const CALL = Symbol('grpcCall');
type GrpcStream = ServerHttp2Stream & { [CALL]?: Call };

class GrpcAuthzServer {
  readonly codec: GrpcCodec;
  readonly metrics: GrpcMetrics | undefined;
  readonly maxDecisionMs: number;
  readonly maxMessageBytes: number;
  private readonly servingFrame: Buffer;
  private readonly notServingFrame: Buffer;

  constructor(readonly opts: GrpcServerOptions) {
    this.codec = grpcCodec();
    this.metrics = createGrpcMetrics(opts.metrics);
    this.maxDecisionMs = opts.maxDecisionMs ?? DEFAULT_MAX_DECISION_MS;
    this.maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    const health = this.codec.HealthCheckResponse;
    this.servingFrame = frameMessage(health.encode({ status: 1 }).finish());
    this.notServingFrame = frameMessage(health.encode({ status: 2 }).finish());
  }

  onStream(stream: GrpcStream, headers: IncomingHttpHeaders): void {
    stream.on('error', onStreamError);
    const path = headers[':path'];
    const rpc: Rpc | 0 = path === CHECK_PATH ? Rpc.Check : path === HEALTH_CHECK_PATH ? Rpc.HealthCheck : 0;
    if (headers[':method'] !== 'POST') {
      respondError(stream, GrpcCode.UNIMPLEMENTED, 'gRPC calls are POST', 405);
      return;
    }
    const contentType = headers['content-type'];
    if (typeof contentType !== 'string' || !isGrpcContentType(contentType)) {
      respondError(stream, GrpcCode.INTERNAL, 'content-type must be application/grpc or application/grpc+proto', 415);
      return;
    }
    if (rpc === 0) {
      this.metrics?.calls.inc({ method: 'unknown', code: String(GrpcCode.UNIMPLEMENTED) });
      respondError(stream, GrpcCode.UNIMPLEMENTED, `unknown method ${String(path)}`);
      return;
    }
    const encoding = headers['grpc-encoding'];
    stream[CALL] = {
      server: this,
      rpc,
      timeoutMs: parseGrpcTimeout(headers['grpc-timeout']),
      encoding: typeof encoding === 'string' && encoding !== 'identity' ? encoding : undefined,
      first: undefined,
      rest: undefined,
      size: 0,
      answered: false,
      timer: undefined,
      malformed: false,
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    // 'close' matters only while a decision is pending (see check()): most
    // answers are written synchronously, and a listener per stream is not free.
  }

  /** The whole request body has arrived. */
  onBody(stream: GrpcStream, call: Call, body: Buffer): void {
    const read = readUnaryBody(body);
    if (read.kind === 'compressed') {
      // With grpc-encoding the client compressed with something we did not
      // offer (spec: UNIMPLEMENTED); without it the flag is a protocol error.
      if (call.encoding !== undefined) {
        this.answerError(stream, call, GrpcCode.UNIMPLEMENTED, `message encoding ${call.encoding} is not supported`);
      } else {
        this.answerError(stream, call, GrpcCode.INTERNAL, 'compressed message without grpc-encoding');
      }
      return;
    }
    if (read.kind === 'bad_framing') {
      this.answerError(stream, call, GrpcCode.INTERNAL, read.detail);
      return;
    }
    if (call.rpc === Rpc.HealthCheck) this.healthCheck(stream, call, read.message);
    else this.check(stream, call, read.message);
  }

  private healthCheck(stream: GrpcStream, call: Call, message: Buffer): void {
    let service: string;
    try {
      service = (this.codec.HealthCheckRequest.decode(message) as unknown as { service: string }).service;
    } catch {
      this.answerError(stream, call, GrpcCode.INVALID_ARGUMENT, 'cannot decode HealthCheckRequest');
      return;
    }
    if (!HEALTH_SERVICES.has(service)) {
      this.answerError(stream, call, GrpcCode.NOT_FOUND, `unknown service ${service}`);
      return;
    }
    let serving = false;
    try {
      serving = this.opts.isServing();
    } catch (err) {
      this.opts.log.error({ err: String(err) }, 'isServing threw; reporting NOT_SERVING');
    }
    call.answered = true;
    this.metrics?.calls.inc({ method: 'HealthCheck', code: '0' });
    respondMessage(stream, serving ? this.servingFrame : this.notServingFrame);
  }

  private check(stream: GrpcStream, call: Call, message: Buffer): void {
    let req: AuthzRequest;
    try {
      req = authzRequestFromCheck(decodeCheckRequest(message));
    } catch {
      // A message that does not decode is answered as a CheckResponse deny
      // (PERMISSION_DENIED, denied_response 403, reason malformed_request),
      // not as a gRPC error: Envoy's failure_mode_allow lets a request
      // through when the authorization call *fails*, so only an explicit deny
      // is fail-closed whatever Envoy's configuration. It still goes through
      // decide() so it gets a decision id, metrics and an audit event.
      req = malformedRequest('malformed_request');
    }
    call.malformed = req.malformed !== undefined;
    const budget = call.timeoutMs === undefined ? undefined : decisionBudget(call.timeoutMs);
    let result: Decision | Promise<Decision>;
    try {
      result = this.opts.decide(req, budget);
    } catch (err) {
      this.opts.log.error({ err: String(err) }, 'decide threw');
      this.answerDecision(stream, call, transportDeny(503, 'internal_error', this.metrics));
      return;
    }
    if (!isPromise(result)) {
      this.answerDecision(stream, call, result);
      return;
    }
    if (!stream.closed) {
      // The safety-net deadline, dropped if the client goes away first.
      call.timer = setTimeout(onDecisionTimeout, Math.min(budget ?? this.maxDecisionMs, this.maxDecisionMs), stream);
      stream.once('close', onClose);
    }
    result.then(
      (decision) => this.answerDecision(stream, call, decision),
      (err: unknown) => {
        this.opts.log.error({ err: String(err) }, 'decide failed');
        this.answerDecision(stream, call, transportDeny(503, 'internal_error', this.metrics));
      },
    );
  }

  answerDecision(stream: GrpcStream, call: Call, decision: Decision): void {
    if (call.answered) return;
    call.answered = true;
    if (call.timer !== undefined) clearTimeout(call.timer);
    if (stream.closed || stream.destroyed) {
      this.metrics?.abandoned.inc();
      return;
    }
    // Belt and braces: a request we could not read never gets an OK, even
    // from a decide() that forgot to check `malformed`.
    if (call.malformed && decision.allowed) decision = transportDeny(403, 'malformed_request', this.metrics);
    let frame: Buffer;
    try {
      frame = encodeCheckResponseFrame(decision, this.opts.dynamicMetadata?.());
    } catch (err) {
      this.opts.log.error({ err: String(err) }, 'cannot encode CheckResponse');
      call.answered = false;
      this.answerError(stream, call, GrpcCode.INTERNAL, 'cannot encode CheckResponse');
      return;
    }
    this.metrics?.checkOk.inc();
    respondMessage(stream, frame);
  }

  answerError(stream: GrpcStream, call: Call, code: GrpcCode, message: string): void {
    if (call.answered) return;
    call.answered = true;
    if (call.timer !== undefined) clearTimeout(call.timer);
    this.metrics?.calls.inc({ method: call.rpc === Rpc.Check ? 'Check' : 'HealthCheck', code: String(code) });
    respondError(stream, code, message);
  }
}

function isGrpcContentType(ct: string): boolean {
  return ct === 'application/grpc' || ct === 'application/grpc+proto' || ct.startsWith('application/grpc;');
}

/**
 * The part of the caller's grpc-timeout we give decide(): the rest is headroom
 * to encode and send the answer, so a slow decision still arrives as a deny
 * rather than as the caller's own DEADLINE_EXCEEDED.
 */
export function decisionBudget(timeoutMs: number): number {
  return Math.max(0, timeoutMs - Math.min(timeoutMs / 5, 25));
}

function onData(this: GrpcStream, chunk: Buffer): void {
  const call = this[CALL];
  if (call === undefined || call.answered) return;
  call.size += chunk.length;
  if (call.size > call.server.maxMessageBytes + 5) {
    call.server.answerError(this, call, GrpcCode.RESOURCE_EXHAUSTED,
      `request message larger than ${call.server.maxMessageBytes} bytes`);
    // The answer is complete; stop the client from sending the rest.
    if (!this.closed) this.close(http2.constants.NGHTTP2_NO_ERROR);
    call.first = undefined;
    call.rest = undefined;
    return;
  }
  if (call.first === undefined) call.first = chunk;
  else (call.rest ??= [call.first]).push(chunk);
}

function onEnd(this: GrpcStream): void {
  const call = this[CALL];
  if (call === undefined || call.answered) return;
  const body = call.rest !== undefined ? Buffer.concat(call.rest, call.size) : (call.first ?? Buffer.alloc(0));
  call.first = undefined;
  call.rest = undefined;
  try {
    call.server.onBody(this, call, body);
  } catch (err) {
    // Nothing above should throw; if it does, this stream fails, the server keeps serving.
    call.server.opts.log.error({ err: String(err) }, 'gRPC call failed');
    call.server.answerError(this, call, GrpcCode.INTERNAL, 'internal error');
  }
}

function onClose(this: GrpcStream): void {
  const call = this[CALL];
  if (call !== undefined && !call.answered && call.timer !== undefined) {
    // The client went away while decide() was pending: no one to answer.
    clearTimeout(call.timer);
    call.timer = undefined;
  }
}

function onDecisionTimeout(stream: GrpcStream): void {
  const call = stream[CALL];
  if (call === undefined || call.answered) return;
  call.timer = undefined;
  call.server.opts.log.warn({ rpc: 'Check' }, 'decide() missed its deadline; denying');
  call.server.answerDecision(stream, call, transportDeny(503, DEADLINE_EXCEEDED, call.server.metrics));
}

function onStreamError(this: GrpcStream, _err: Error): void {
  // Client resets and aborted connections surface here; without a listener
  // they would be thrown as uncaught exceptions. The stream is already gone.
}

function respondMessage(stream: GrpcStream, frame: Buffer): void {
  if (stream.closed || stream.destroyed) return;
  try {
    stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
    stream.once('wantTrailers', sendOkTrailers);
    stream.end(frame);
  } catch {
    // The peer reset the stream between our check and the write.
  }
}

function sendOkTrailers(this: GrpcStream): void {
  try {
    this.sendTrailers(OK_TRAILERS);
  } catch {
    // Reset while the message was in flight.
  }
}

/** A trailers-only response: the status rides in the one HEADERS frame. */
function respondError(stream: GrpcStream, code: GrpcCode, message: string, httpStatus = 200): void {
  if (stream.closed || stream.destroyed || stream.headersSent) return;
  try {
    stream.respond(
      {
        ':status': httpStatus,
        'content-type': 'application/grpc',
        'grpc-status': String(code),
        'grpc-message': encodeGrpcMessage(message),
        'grpc-accept-encoding': ACCEPT_ENCODING,
      },
      { endStream: true },
    );
  } catch {
    // Reset meanwhile.
  }
}

function isPromise<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

const NO_PEER = Object.freeze({ address: undefined, port: undefined, principal: undefined, labels: Object.freeze({}) });

/** What decide() sees for a message that could not be decoded at all. */
function malformedRequest(reason: string): AuthzRequest {
  return {
    requestId: randomUUID(),
    method: '',
    path: '',
    rawPath: '',
    query: {},
    host: '',
    scheme: '',
    protocol: '',
    headers: {},
    headerList: [],
    source: NO_PEER,
    destination: NO_PEER,
    contextExtensions: {},
    filterMetadata: {},
    transport: 'grpc',
    malformed: reason,
  };
}

/** A deny the transport makes itself, when decide() could not give one. */
function transportDeny(status: DenyStatus, reason: string, metrics: GrpcMetrics | undefined): Decision {
  metrics?.transportDenies.inc({ reason });
  const decisionId = randomUUID();
  return {
    decisionId,
    allowed: false,
    status,
    reason,
    stage: 'transport',
    mode: 'deny',
    upstreamHeaders: {},
    responseHeaders: { 'x-authz-decision-id': decisionId },
    annotations: {},
    durationSeconds: 0,
  };
}

export async function startGrpcServer(opts: GrpcServerOptions): Promise<GrpcServerHandle> {
  const authz = new GrpcAuthzServer(opts);
  const server = http2.createServer();
  const sessions = new Set<ServerHttp2Session>();
  server.on('session', (session: ServerHttp2Session) => {
    sessions.add(session);
    session.on('error', (err: Error) => opts.log.debug({ err: err.message }, 'gRPC session error'));
    session.once('close', () => sessions.delete(session));
  });
  server.on('stream', (stream, headers) => authz.onStream(stream, headers));
  server.on('sessionError', (err: Error) => opts.log.debug({ err: err.message }, 'gRPC session error'));

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(opts.port, opts.host, () => {
      server.off('error', onError);
      server.on('error', (err: Error) => opts.log.error({ err: err.message }, 'gRPC server error'));
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : opts.port;
  opts.log.info({ host: opts.host, port }, 'gRPC ext_authz listening');

  let closing: Promise<void> | undefined;
  return {
    port,
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // GOAWAY to every client: in-flight calls finish, new ones go elsewhere.
        for (const session of sessions) session.close();
        const force = setTimeout(() => {
          for (const session of sessions) session.destroy();
        }, CLOSE_GRACE_MS);
        force.unref();
      });
      return closing;
    },
  };
}
