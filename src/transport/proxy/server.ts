// Inline mode: the sidecar is the service's front door. Each request —
// including a WebSocket upgrade, and before a `100-continue` body is sent — is
// decided first; an allowed one is forwarded to the upstream over pooled
// keep-alive connections (upstream-pool.ts) with the client's owned headers
// removed and the decision's set (forwarded-headers.ts); a denied one is
// answered here with the JSON deny body. The decision is never skipped, and
// an upstream failure is a 502/504 JSON answer naming the reason.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ProxyConfig } from '../../config/schema.js';
import type { AuthzRequest, Decision } from '../../decision/types.js';
import type { Logger } from '../../observability/logger.js';
import type { SidecarMetrics } from '../../observability/metrics.js';
import { authzRequestFromHttp } from '../../request/from-http-request.js';
import { denyBody } from '../decision-response.js';
import { listen } from '../listen.js';
import { trustedProxies, upstreamRequestHeaders, type OutgoingHeaders } from './forwarded-headers.js';
import { createProxyMetrics } from './proxy-metrics.js';
import { joinSockets, writeRawResponse } from './tunnel.js';
import { UpstreamPool } from './upstream-pool.js';
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

export async function startProxyServer(opts: ProxyServerOptions): Promise<{ port: number; close(): Promise<void> }> {
  const cfg = opts.config;
  const metrics = createProxyMetrics(opts.metrics, new URL(cfg.upstream).host);
  const pool = new UpstreamPool(cfg.upstream, cfg, metrics);
  const isTrusted = trustedProxies(cfg.trusted_proxies);
  const log = opts.log;

  /** Decides, then hands the decision to `then`; a decision that throws or rejects is a 503 internal_error. */
  const decideThen = (req: IncomingMessage, onError: () => void, then: (d: Decision, a: AuthzRequest) => void) => {
    let authz: AuthzRequest;
    let decision: Decision | Promise<Decision>;
    try {
      authz = authzRequestFromHttp(req, { trustForwarded: isTrusted(req.socket.remoteAddress) });
      decision = opts.decide(authz);
    } catch (err) {
      log.error({ error: (err as Error).message }, 'decision failed; denying');
      onError();
      return;
    }
    if (decision instanceof Promise) {
      decision.then((d) => then(d, authz), (err: unknown) => {
        log.error({ error: (err as Error).message }, 'decision failed; denying');
        onError();
      });
    } else {
      then(decision, authz);
    }
  };

  const forwardRequest = (req: IncomingMessage, decision: Decision, authz: AuthzRequest, keepUpgrade = false) => ({
    req,
    path: upstreamPath(authz, req.url ?? '/'),
    headers: upstreamRequestHeaders(req, {
      trusted: isTrusted(req.socket.remoteAddress), via: cfg.via, decisionHeaders: decision.upstreamHeaders, keepUpgrade,
    }),
    responseHeaders: decision.responseHeaders,
  });

  const onRequest = (req: IncomingMessage, res: ServerResponse, expectsContinue: boolean) => {
    decideThen(req, () => answerJson(res, 503, {}, internalError()), (decision, authz) => {
      if (!decision.allowed) {
        answerJson(res, decision.status, decision.responseHeaders, denyBody(decision));
        return;
      }
      // The body is asked for only once the request is allowed: a denied upload is never sent.
      if (expectsContinue) res.writeContinue();
      pool.web(forwardRequest(req, decision, authz), res, (failure, detail) => {
        log.warn({ outcome: failure.outcome, detail }, 'upstream request failed');
        answerJson(res, failure.status, decision.responseHeaders, failureBody(failure, decision), true);
      });
    });
  };

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    decideThen(req, () => writeRawResponse(socket, 503, {}, internalError()), (decision, authz) => {
      if (!decision.allowed) {
        writeRawResponse(socket, decision.status, decision.responseHeaders as OutgoingHeaders, denyBody(decision));
        return;
      }
      const abort = new AbortController();
      socket.once('close', () => abort.abort());
      const protocol = String(req.headers.upgrade ?? 'websocket');
      pool.upgrade(forwardRequest(req, decision, authz), protocol, abort.signal).then(
        ({ headers, socket: upstream }) => {
          metrics.count('upgraded');
          joinSockets(socket, head, upstream, { ...headers, ...decision.responseHeaders });
        },
        (err: Error) => {
          const failure = classifyUpstreamError(err, socket.destroyed);
          metrics.count(failure.outcome);
          if (socket.destroyed) return;
          log.warn({ outcome: failure.outcome, detail: err.message }, 'upstream upgrade failed');
          writeRawResponse(socket, failure.status, decision.responseHeaders as OutgoingHeaders, failureBody(failure, decision));
        },
      );
    });
  };

  const server = createServer();
  server.on('request', (req, res) => onRequest(req, res, false));
  server.on('checkContinue', (req, res) => onRequest(req, res, true));
  server.on('upgrade', onUpgrade);
  server.on('clientError', (_err, socket) => socket.destroy());
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
  return JSON.stringify({ error: 'unavailable', reason: 'internal_error' });
}

function answerJson(res: ServerResponse, status: number, headers: Readonly<Record<string, string>>, body: string, close = false): void {
  if (res.headersSent || res.destroyed) return;
  try {
    res.writeHead(status, {
      ...headers,
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
