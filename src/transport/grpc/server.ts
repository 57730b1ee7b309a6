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
// Hostile callers: every failure to read a Check — too large, badly framed,
// compressed, undecodable, over a count limit, too slow to arrive — is
// answered with a CheckResponse deny (grpc-status 0, denied_response with the
// reason), never a gRPC error: Envoy's failure_mode_allow turns a *failed*
// call into an allow, an explicit deny it always enforces. Cost is bounded
// per connection (SETTINGS_MAX_CONCURRENT_STREAMS), per stream (message size,
// a deadline for the whole message), across streams (bytes buffered) and in
// connections; an unexpected exception is that call's 503 internal_error.
//
// Health: grpc.health.v1.Health/Check answers SERVING or NOT_SERVING from
// isServing(). Health/Watch answers UNIMPLEMENTED: we have no change
// notification to stream, and a Watch that sent one status and then went
// quiet would report a stale status forever; UNIMPLEMENTED tells a client
// (Kubernetes probes, grpc-health-probe, Envoy) to poll Check instead.
import http2, { type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import { readFileSync } from 'node:fs';
import type { AuthzRequest, Decision, DenyStatus } from '../../decision/types.js';
import { randomUuid } from '../../decision/uuid.js';
import type { Logger } from '../../observability/logger.js';
import type { SidecarMetrics } from '../../observability/metrics.js';
import { authzRequestFromCheck } from '../../request/from-check-request.js';
import { DEADLINE_EXCEEDED, INTERNAL_ERROR } from '../../decision/reason-codes.js';
import { createInternalErrors, type InternalErrors } from '../internal-errors.js';
import { decodeCheckRequest, MessageLimitExceeded } from './check-request-reader.js';
import { encodeCheckResponseFrame, type DynamicMetadataPlan } from './check-response-writer.js';
import { FRAME_HEADER_BYTES, frameMessage, readUnaryBody } from './grpc-frame.js';
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
  /** Largest request message accepted; a larger Check is denied `message_too_large`. Default 256 KiB. */
  maxMessageBytes?: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS per connection; streams beyond it are refused. Default 100. */
  maxConcurrentStreams?: number;
  /** A stream that has not delivered its whole message after this long is denied `message_timeout`. Default 5000. */
  messageTimeoutMs?: number;
  /** Bytes of request messages buffered across all streams; past it a Check is denied `overloaded`. Default 64 MiB. */
  maxBufferedBytes?: number;
  /** Open connections at once; more are closed as they arrive. Default 1024. */
  maxConnections?: number;
  /** The dynamic_metadata fields in force (read per response: a reload may change them). Default decision_id, reason, stage. */
  dynamicMetadata?: () => DynamicMetadataPlan;
  /** mTLS: serve TLS with this certificate and require client certificates signed by `clientCaFile`. */
  tls?: GrpcTlsOptions;
}

export interface GrpcTlsOptions {
  readonly certFile: string;
  readonly keyFile: string;
  readonly clientCaFile: string;
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
// A CheckRequest carries at most Envoy's headers (60 KiB by default), a little
// metadata and, only with with_request_body, a body Envoy itself caps.
export const DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024;
// Envoy's own recommendation for a server facing untrusted clients
// (http2_protocol_options.max_concurrent_streams: 100, "edge" best practices);
// Envoy opens another connection when one is full.
export const DEFAULT_MAX_CONCURRENT_STREAMS = 100;
export const DEFAULT_MESSAGE_TIMEOUT_MS = 5000;
export const DEFAULT_MAX_BUFFERED_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_CONNECTIONS = 1024;
const CLOSE_GRACE_MS = 2000;

const Rpc = { Check: 1, HealthCheck: 2 } as const;
type Rpc = (typeof Rpc)[keyof typeof Rpc];

const RESPONSE_HEADERS = Object.freeze({ ':status': 200, 'content-type': 'application/grpc' });
// A Check's answer carries no `date` header: gRPC does not use it (Envoy's ext_authz client
// ignores it), and node:http2 would format and HPACK-encode one on every answer. The rare
// error responses (respondError) keep node's default.
const MESSAGE_RESPONSE = Object.freeze({ waitForTrailers: true, sendDate: false });
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
  /** The request's `malformed` reason: it is never answered with an allow. */
  malformed: string | undefined;
  /** Answered before the client finished sending: the message timer resets the stream. */
  draining: boolean;
  /** Bytes of this call counted in the server's `buffered` (released once). */
  buffered: number;
  /** The request's headers, for headers_to_remove on allow. */
  headerList: ReadonlyArray<readonly [string, string]> | undefined;
}

const CALL = Symbol('grpcCall');
type GrpcStream = ServerHttp2Stream & { [CALL]?: Call };

class GrpcAuthzServer {
  readonly codec: GrpcCodec;
  readonly metrics: GrpcMetrics | undefined;
  readonly maxDecisionMs: number;
  readonly maxMessageBytes: number;
  readonly maxBufferedBytes: number;
  readonly internal: InternalErrors;
  /** Bytes of request messages held by streams that have not finished sending. */
  buffered = 0;
  /**
   * Streams still sending their message, in two generations: each tick of
   * the message timer denies what was already waiting at the previous tick
   * (so a stream gets between one and two timeouts), then ages the rest. Two
   * Set operations per call instead of a timer each.
   */
  private waiting = new Set<GrpcStream>();
  private waitingLong = new Set<GrpcStream>();
  private readonly sweep: NodeJS.Timeout;
  private readonly servingFrame: Buffer;
  private readonly notServingFrame: Buffer;

  constructor(readonly opts: GrpcServerOptions) {
    this.codec = grpcCodec();
    this.metrics = createGrpcMetrics(opts.metrics);
    this.internal = createInternalErrors(opts.log, opts.metrics);
    this.maxDecisionMs = opts.maxDecisionMs ?? DEFAULT_MAX_DECISION_MS;
    this.maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.maxBufferedBytes = opts.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    this.sweep = setInterval(() => this.expireWaiting(), opts.messageTimeoutMs ?? DEFAULT_MESSAGE_TIMEOUT_MS);
    this.sweep.unref();
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
      malformed: undefined,
      buffered: 0,
      draining: false,
      headerList: undefined,
    };
    this.waiting.add(stream);
    stream.on('data', onData);
    stream.on('end', onEnd);
    // 'close' matters only while a decision is pending (see check()): most
    // answers are written synchronously, and a listener per stream is not free.
  }

  stop(): void {
    clearInterval(this.sweep);
  }

  /** The stream stopped sending (ended, answered early or went away): it no longer waits or holds bytes. */
  settle(stream: GrpcStream, call: Call): void {
    if (!this.waiting.delete(stream)) this.waitingLong.delete(stream);
    this.buffered -= call.buffered;
    call.buffered = 0;
    call.first = undefined;
    call.rest = undefined;
  }

  /** An answered stream whose client may still be sending: reset by the message timer if still open. */
  drainLater(stream: GrpcStream, call: Call): void {
    call.draining = true;
    this.waiting.add(stream);
  }

  /** Deny every Check still sending its message since before the last tick; reset drained streams. */
  private expireWaiting(): void {
    const expired = this.waitingLong;
    this.waitingLong = this.waiting;
    this.waiting = new Set();
    for (const stream of expired) {
      const call = stream[CALL];
      if (call === undefined) continue;
      if (stream.closed || stream.destroyed) {
        this.settle(stream, call); // reset by the client mid-message: release what it sent
        continue;
      }
      if (call.draining) {
        // Answered long enough ago for the trailers to be out: stop the sender.
        if (call.answered) stream.close(http2.constants.NGHTTP2_NO_ERROR);
        else this.waiting.add(stream);
        continue;
      }
      this.settle(stream, call);
      if (call.answered) continue;
      this.unreadable(stream, call, 'message_timeout', 'the request message did not arrive in time');
      stopReading(stream, call);
    }
  }

  /**
   * A request we could not read. A Check gets a CheckResponse deny through
   * decide() (decision id, metrics, audit), so no Envoy setting can turn it
   * into an allow; a health check gets the gRPC error.
   */
  unreadable(stream: GrpcStream, call: Call, reason: string, detail: string, healthCode: GrpcCode = GrpcCode.INTERNAL): void {
    if (call.rpc === Rpc.HealthCheck) this.answerError(stream, call, healthCode, detail);
    else this.decideAndAnswer(stream, call, malformedRequest(reason));
  }

  /** The whole request body has arrived. */
  onBody(stream: GrpcStream, call: Call, body: Buffer): void {
    const read = readUnaryBody(body);
    if (read.kind === 'compressed') {
      // We never offer an encoding (grpc-accept-encoding: identity).
      const detail = call.encoding !== undefined
        ? `message encoding ${call.encoding} is not supported` : 'compressed message without grpc-encoding';
      this.unreadable(stream, call, 'compressed_message', detail,
        call.encoding !== undefined ? GrpcCode.UNIMPLEMENTED : GrpcCode.INTERNAL);
      return;
    }
    if (read.kind === 'bad_framing') {
      this.unreadable(stream, call, 'bad_framing', read.detail);
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
    } catch (err) {
      // A message that does not decode is a deny (malformed_request), not a
      // gRPC error: see unreadable().
      req = malformedRequest(err instanceof MessageLimitExceeded ? err.reason : 'malformed_request');
    }
    this.decideAndAnswer(stream, call, req);
  }

  private decideAndAnswer(stream: GrpcStream, call: Call, req: AuthzRequest): void {
    call.malformed = req.malformed;
    call.headerList = req.headerList;
    const budget = call.timeoutMs === undefined ? undefined : decisionBudget(call.timeoutMs);
    let result: Decision | Promise<Decision>;
    try {
      result = this.opts.decide(req, budget);
    } catch (err) {
      this.internal.record('grpc', err);
      this.answerDecision(stream, call, transportDeny(503, INTERNAL_ERROR, this.metrics));
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
        this.internal.record('grpc', err);
        this.answerDecision(stream, call, transportDeny(503, INTERNAL_ERROR, this.metrics));
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
    if (call.malformed !== undefined && decision.allowed) decision = transportDeny(403, call.malformed, this.metrics);
    let frame: Buffer;
    const headerList = call.headerList;
    // node:http2 keeps a finished stream (and so its Call) reachable for a
    // while; the request's headers should not live as long.
    call.headerList = undefined;
    try {
      frame = encodeCheckResponseFrame(decision, headerList, this.opts.dynamicMetadata?.());
    } catch (err) {
      // Still a deny Envoy enforces, from a Decision we know encodes.
      this.internal.record('grpc', err);
      frame = encodeCheckResponseFrame(transportDeny(503, INTERNAL_ERROR, this.metrics));
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
  // Once refused (draining), whatever else the client sends is dropped.
  if (call === undefined || call.answered || call.draining) return;
  const server = call.server;
  call.size += chunk.length;
  call.buffered += chunk.length;
  server.buffered += chunk.length;
  if (call.first === undefined) call.first = chunk;
  else (call.rest ??= [call.first]).push(chunk);
  // Refuse as soon as the length prefix says the message is too large, rather
  // than buffering up to the limit for a sender that may then stall. Read once:
  // on the chunk that completes the 5-byte prefix.
  let declared = -1;
  if (call.size >= FRAME_HEADER_BYTES && call.size - chunk.length < FRAME_HEADER_BYTES) {
    const head = call.first.length >= FRAME_HEADER_BYTES ? call.first : Buffer.concat(call.rest ?? [call.first]);
    declared = head.readUInt32BE(1);
  }
  if (declared > server.maxMessageBytes || call.size > server.maxMessageBytes + FRAME_HEADER_BYTES) {
    server.settle(this, call);
    call.draining = call.rpc === Rpc.Check; // a pending decision must not see more of this body
    server.unreadable(this, call, 'message_too_large', `request message larger than ${server.maxMessageBytes} bytes`,
      GrpcCode.RESOURCE_EXHAUSTED);
    stopReading(this, call);
  } else if (server.buffered > server.maxBufferedBytes) {
    server.settle(this, call);
    call.draining = call.rpc === Rpc.Check;
    server.unreadable(this, call, 'overloaded', 'too many request bytes pending', GrpcCode.RESOURCE_EXHAUSTED);
    stopReading(this, call);
  }
}

function onEnd(this: GrpcStream): void {
  const call = this[CALL];
  if (call === undefined || call.answered || call.draining) return;
  if (this.aborted) {
    // Reset by the client before its message was complete (node ends the readable side on a
    // reset): nobody is waiting for an answer, and deciding a partial body would record a
    // bad_framing deny the client never asked for.
    call.server.settle(this, call);
    call.answered = true;
    call.server.metrics?.abandoned.inc();
    return;
  }
  const body = call.rest !== undefined ? Buffer.concat(call.rest, call.size) : (call.first ?? Buffer.alloc(0));
  call.server.settle(this, call);
  try {
    call.server.onBody(this, call, body);
  } catch (err) {
    // Nothing above should throw; if it does, this call is denied and the server keeps serving.
    call.server.internal.record('grpc', err);
    if (call.rpc === Rpc.Check) call.server.answerDecision(this, call, transportDeny(503, INTERNAL_ERROR, call.server.metrics));
    else call.server.answerError(this, call, GrpcCode.INTERNAL, 'internal error');
  }
}

/**
 * The answer is given; stop the client from sending the rest of its message
 * with RST_STREAM NO_ERROR (the gRPC spec's "I have answered, stop sending").
 * A trailers-only answer is complete at once. An answer with a message is
 * not: node drops trailers still queued when the stream is reset, so the
 * stream is left to the message timer (`answered` is set, so what it still
 * sends is discarded, not buffered) and reset there if still open.
 */
function stopReading(stream: GrpcStream, call: Call): void {
  if (stream.closed || stream.destroyed) return;
  if (call.rpc === Rpc.Check) call.server.drainLater(stream, call);
  else stream.close(http2.constants.NGHTTP2_NO_ERROR);
}

function onClose(this: GrpcStream): void {
  const call = this[CALL];
  if (call !== undefined) call.server.settle(this, call);
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
    stream.respond(RESPONSE_HEADERS, MESSAGE_RESPONSE);
    // 'wantTrailers' fires once per stream: a plain listener, not once()'s wrapper.
    stream.on('wantTrailers', sendOkTrailers);
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
    requestId: randomUuid(),
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
  const decisionId = randomUuid();
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
  const settings = { maxConcurrentStreams: opts.maxConcurrentStreams ?? DEFAULT_MAX_CONCURRENT_STREAMS };
  const server = opts.tls === undefined
    ? http2.createServer({ settings })
    : http2.createSecureServer({
      settings,
      cert: readFileSync(opts.tls.certFile),
      key: readFileSync(opts.tls.keyFile),
      ca: readFileSync(opts.tls.clientCaFile),
      // mTLS: a client without a certificate from clientCaFile never gets a session.
      requestCert: true,
      rejectUnauthorized: true,
      allowHTTP1: false,
    });
  server.maxConnections = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  // A handshake without an acceptable client certificate: the connection is already gone.
  server.on('tlsClientError', (err: Error) => opts.log.debug({ err: err.message }, 'gRPC TLS handshake refused'));
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
  opts.log.info({ host: opts.host, port, tls: opts.tls !== undefined }, 'gRPC ext_authz listening');

  let closing: Promise<void> | undefined;
  return {
    port,
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        authz.stop();
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
