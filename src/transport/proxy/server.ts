// Inline mode: the sidecar is the service's front door. Each request —
// including a WebSocket upgrade, and before a `100-continue` body is sent — is
// decided first; an allowed one is forwarded to the upstream over pooled
// keep-alive connections (upstream-pool.ts) with the client's owned headers
// removed and the decision's set (forwarded-headers.ts); a denied one is
// answered here with the JSON deny body. The decision is never skipped, and
// an upstream failure is a 502/504 JSON answer naming the reason. Every
// header value the decision made goes through headerValue(), and anything
// thrown while answering is that request's 503 internal_error (counted in
// authz_internal_errors_total): nothing here can stop the process.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ProxyConfig } from '../../config/schema.js';
import type { AuthzRequest, Decision } from '../../decision/types.js';
import type { Logger } from '../../observability/logger.js';
import type { SidecarMetrics } from '../../observability/metrics.js';
import { INTERNAL_ERROR } from '../../decision/reason-codes.js';
import { authzRequestFromHttp, NODE_MAX_HEADERS_COUNT, type HttpRequestOptions } from '../../request/from-http-request.js';
import { denyBody } from '../decision-response.js';
import { headerValues } from '../header-value.js';
import { createInternalErrors } from '../internal-errors.js';
import { listen } from '../listen.js';
import { trustedProxies, upstreamRequestHeaders } from './forwarded-headers.js';
import { createProxyMetrics } from './proxy-metrics.js';
import { joinSockets, writeRawResponse } from './tunnel.js';
import { UpstreamPool, type FailureAnswer, type ForwardRequest } from './upstream-pool.js';
import { classifyUpstreamError, type UpstreamFailure } from './upstream-errors.js';

export interface ProxyServerOptions {
  readonly config: ProxyConfig & { readonly upstream: string };
  readonly decide: (req: AuthzRequest) => Decision | Promise<Decision>;
  readonly log: Logger;
  readonly metrics: SidecarMetrics;
}

const ERROR_TEXT: Record<number, string> = {
  408: 'request timeout', 413: 'payload too large', 502: 'bad gateway', 503: 'unavailable', 504: 'gateway timeout',
};

const TRUST_FORWARDED: HttpRequestOptions = Object.freeze({ trustForwarded: true });
const DISTRUST_FORWARDED: HttpRequestOptions = Object.freeze({ trustForwarded: false });

export async function startProxyServer(opts: ProxyServerOptions): Promise<{ port: number; close(): Promise<void> }> {
  const cfg = opts.config;
  const metrics = createProxyMetrics(opts.metrics, new URL(cfg.upstream).host);
  const pool = new UpstreamPool(cfg.upstream, cfg, metrics);
  const isTrusted = trustedProxies(cfg.trusted_proxies);
  const log = opts.log;
  const internal = createInternalErrors(log, opts.metrics);

  /** The AuthzRequest for `req`: forwarding headers from the peer are believed only from a trusted proxy. */
  const authzRequest = (req: IncomingMessage, trusted: boolean): AuthzRequest =>
    authzRequestFromHttp(req, trusted ? TRUST_FORWARDED : DISTRUST_FORWARDED);

  /** A decision that threw or rejected, or an answer that threw: that request's 503 internal_error. */
  const failed = (req: IncomingMessage, err: unknown, answer: () => void): void => {
    internal.record('proxy', err);
    try {
      answer();
    } catch {
      req.socket.destroy();
    }
  };

  const forwardRequest = (req: IncomingMessage, decision: Decision, authz: AuthzRequest, trusted: boolean): ForwardRequest => ({
    req,
    path: upstreamPath(authz, req.url ?? '/'),
    headers: upstreamRequestHeaders(authz, req, { trusted, via: cfg.via, decisionHeaders: decision.upstreamHeaders }),
    responseHeaders: headerValues(decision.responseHeaders),
    decision,
  });

  const answerFailure: FailureAnswer = (res, failure, detail, decision) => {
    log.warn({ outcome: failure.outcome, detail }, 'upstream request failed');
    answerJson(res, failure.status, decision.responseHeaders, failureBody(failure, decision), true);
  };

  const answerRequest = (req: IncomingMessage, res: ServerResponse, expectsContinue: boolean, trusted: boolean,
    authz: AuthzRequest, decision: Decision): void => {
    try {
      if (!decision.allowed) {
        answerJson(res, decision.status, decision.responseHeaders, denyBody(decision));
        return;
      }
      // The body is asked for only once the request is allowed: a denied upload is never sent.
      if (expectsContinue) res.writeContinue();
      pool.web(forwardRequest(req, decision, authz, trusted), res, answerFailure);
    } catch (err) {
      failed(req, err, () => answerJson(res, 503, {}, internalError()));
    }
  };

  // No closure per request on the usual path: the decision is synchronous
  // (cached identity, in-process stages) and answered in the same call.
  const onRequest = (req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): void => {
    let trusted: boolean;
    let authz: AuthzRequest;
    let decision: Decision | Promise<Decision>;
    try {
      trusted = isTrusted(req.socket.remoteAddress);
      authz = authzRequest(req, trusted);
      decision = opts.decide(authz);
    } catch (err) {
      failed(req, err, () => answerJson(res, 503, {}, internalError()));
      return;
    }
    if (!(decision instanceof Promise)) {
      answerRequest(req, res, expectsContinue, trusted, authz, decision);
      return;
    }
    decision.then(
      (d) => answerRequest(req, res, expectsContinue, trusted, authz, d),
      (err: unknown) => failed(req, err, () => answerJson(res, 503, {}, internalError())),
    );
  };

  /** Decides an upgrade, then hands the decision to `then`; a throw or rejection anywhere is a 503 internal_error. */
  const decideUpgrade = (req: IncomingMessage, socket: Duplex, then: (d: Decision, a: AuthzRequest, trusted: boolean) => void) => {
    const internalAnswer = () => writeRawResponse(socket, 503, {}, internalError());
    let trusted = false;
    const answer = (authz: AuthzRequest, d: Decision): void => {
      try {
        then(d, authz, trusted);
      } catch (err) {
        failed(req, err, internalAnswer);
      }
    };
    try {
      trusted = isTrusted(req.socket.remoteAddress);
      const authz = authzRequest(req, trusted);
      const decision = opts.decide(authz);
      if (decision instanceof Promise) decision.then((d) => answer(authz, d), (err: unknown) => failed(req, err, internalAnswer));
      else answer(authz, decision);
    } catch (err) {
      failed(req, err, internalAnswer);
    }
  };

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    decideUpgrade(req, socket, (decision, authz, trusted) => {
      if (!decision.allowed) {
        writeRawResponse(socket, decision.status, headerValues(decision.responseHeaders), denyBody(decision));
        return;
      }
      const abort = new AbortController();
      socket.once('close', () => abort.abort());
      const protocol = String(req.headers.upgrade ?? 'websocket');
      pool.upgrade(forwardRequest(req, decision, authz, trusted), protocol, abort.signal).then(
        ({ headers, socket: upstream }) => {
          metrics.count('upgraded');
          joinSockets(socket, head, upstream, { ...headers, ...headerValues(decision.responseHeaders) });
        },
        (err: Error) => {
          const failure = classifyUpstreamError(err, socket.destroyed);
          metrics.count(failure.outcome);
          if (socket.destroyed) return;
          log.warn({ outcome: failure.outcome, detail: err.message }, 'upstream upgrade failed');
          writeRawResponse(socket, failure.status, headerValues(decision.responseHeaders), failureBody(failure, decision));
        },
      );
    });
  };

  const server = createServer();
  server.on('request', (req, res) => onRequest(req, res, false));
  server.on('checkContinue', (req, res) => onRequest(req, res, true));
  server.on('upgrade', onUpgrade);
  server.on('clientError', (_err, socket) => socket.destroy());
  // Headers past Node's count limit are dropped silently (see from-http-request.ts).
  server.maxHeadersCount = NODE_MAX_HEADERS_COUNT;
  const listening = await listen(server, cfg.host, cfg.port);
  return {
    port: listening.port,
    close: async () => {
      await listening.close();
      await pool.close();
    },
  };
}

/** The path the decision judged (normalized), with the client's query string: the upstream serves what was authorized. */
function upstreamPath(authz: AuthzRequest, url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? authz.path : authz.path + url.slice(q);
}

function failureBody(failure: UpstreamFailure, decision: Decision): string {
  return JSON.stringify({ error: ERROR_TEXT[failure.status] ?? 'bad gateway', reason: failure.outcome, decision_id: decision.decisionId });
}

function internalError(): string {
  return JSON.stringify({ error: 'unavailable', reason: INTERNAL_ERROR });
}

function answerJson(res: ServerResponse, status: number, headers: Readonly<Record<string, string>>, body: string, close = false): void {
  if (res.headersSent || res.destroyed) return;
  try {
    res.writeHead(status, {
      ...headerValues(headers),
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      ...(close ? { connection: 'close' } : {}),
    });
  } catch {
    // A header value the decision made that node:http refuses: answer without it rather than throw.
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  }
  res.end(body);
}
