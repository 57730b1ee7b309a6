// Forwarding allowed requests to the upstream over an undici Pool: bounded
// keep-alive connections, streamed bodies in both directions, a deadline for
// connecting, for the response headers and for each pause in the response
// body, and no retries (a non-idempotent request is never sent twice; a
// failure reaches the client as 502/504). undici was chosen over http-proxy
// with a keep-alive agent by measurement (docs/proxy.md).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { Pool } from 'undici';
import type { ProxyConfig } from '../../config/schema.js';
import { clientResponseHeaders, type OutgoingHeaders } from './forwarded-headers.js';
import { RequestBodyGuard, RequestBodyLimit } from './request-body-guard.js';
import { classifyUpstreamError, type UpstreamFailure } from './upstream-errors.js';
import type { ProxyMetrics } from './proxy-metrics.js';

export interface ForwardRequest {
  readonly req: IncomingMessage;
  readonly path: string;
  readonly headers: OutgoingHeaders;
  /** Headers for the client from the decision (budget, decision id), added to the upstream's. */
  readonly responseHeaders: Readonly<Record<string, string>>;
}

export type FailureAnswer = (failure: UpstreamFailure, detail: string) => void;

export class UpstreamPool {
  private readonly pool: Pool;

  constructor(upstream: string, private readonly cfg: ProxyConfig, private readonly metrics: ProxyMetrics) {
    this.pool = new Pool(upstream, {
      connections: cfg.connections,
      keepAliveTimeout: cfg.keepalive_timeout_ms,
      // An upstream's Keep-Alive hint may shorten, never lengthen, our idle timeout.
      keepAliveMaxTimeout: cfg.keepalive_timeout_ms,
      connect: { timeout: cfg.connect_timeout_ms },
      headersTimeout: cfg.response_timeout_ms,
      bodyTimeout: cfg.body_timeout_ms,
    });
  }

  /** Streams one request to the upstream and its response to `res`. Never throws. */
  web(f: ForwardRequest, res: ServerResponse, fail: FailureAnswer): void {
    const { req } = f;
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > this.cfg.max_body_bytes) {
      this.metrics.count('body_too_large');
      fail({ outcome: 'body_too_large', status: 413 }, `request body of ${declared} bytes is over ${this.cfg.max_body_bytes}`);
      return;
    }
    const abort = new AbortController();
    let clientGone = false;
    let bodyError: RequestBodyLimit | undefined;
    res.once('close', () => {
      if (res.writableFinished) return;
      clientGone = true;
      abort.abort();
    });
    let body: RequestBodyGuard | null = null;
    if (hasBody(req)) {
      body = new RequestBodyGuard(this.cfg.max_body_bytes, this.cfg.upload_idle_timeout_ms);
      body.once('error', (err) => {
        if (err instanceof RequestBodyLimit) bodyError = err;
        abort.abort(err);
      });
      req.once('aborted', () => body?.destroy());
      req.pipe(body);
    }
    const started = performance.now();
    this.pool.stream(
      { path: f.path, method: req.method as 'GET', headers: f.headers, body, signal: abort.signal },
      ({ statusCode, headers }) => {
        this.metrics.observeResponse((performance.now() - started) / 1000);
        const out = clientResponseHeaders(headers, this.cfg.via);
        for (const [name, value] of Object.entries(f.responseHeaders)) out[name] = value;
        res.writeHead(statusCode, out);
        return res;
      },
      (err) => {
        if (err === null) {
          this.metrics.count('ok');
          return;
        }
        const failure = classifyUpstreamError(bodyError ?? err, clientGone);
        this.metrics.count(failure.outcome);
        if (clientGone) return;
        if (res.headersSent) res.destroy();
        else fail(failure, (bodyError ?? err).message);
        // The rest of a refused upload is not read: close the connection instead.
        if (bodyError !== undefined) req.unpipe();
      },
    );
  }

  /** Opens an upgraded (WebSocket) connection to the upstream. */
  upgrade(f: ForwardRequest, protocol: string, signal: AbortSignal): Promise<{ headers: OutgoingHeaders; socket: Duplex }> {
    return this.pool
      .upgrade({ path: f.path, method: f.req.method as 'GET', headers: f.headers, protocol, signal })
      .then(({ headers, socket }) => ({ headers: headers as OutgoingHeaders, socket }));
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

function hasBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && length !== '0';
}
