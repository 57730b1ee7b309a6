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
import type { Decision } from '../../decision/types.js';
import type { HeaderLines } from './forwarded-headers.js';
import { ForwardHandler, type FailureAnswer } from './forward-handler.js';
import { RequestBodyGuard, RequestBodyLimit } from './request-body-guard.js';
import type { ProxyMetrics } from './proxy-metrics.js';

export type { FailureAnswer } from './forward-handler.js';

export interface ForwardRequest {
  readonly req: IncomingMessage;
  readonly path: string;
  readonly headers: HeaderLines;
  /** Headers for the client from the decision (budget, decision id), in place of the upstream's under those names. */
  readonly responseHeaders: Readonly<Record<string, string>>;
  readonly decision: Decision;
}

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
    const handler = new ForwardHandler(req, res, f.responseHeaders, this.cfg.via, this.metrics, f.decision, fail);
    let body: RequestBodyGuard | null = null;
    if (hasBody(req)) {
      const declared = Number(req.headers['content-length'] ?? 0);
      if (declared > this.cfg.max_body_bytes) {
        handler.bodyError = new RequestBodyLimit('body_too_large', `request body of ${declared} bytes is over ${this.cfg.max_body_bytes}`);
        handler.onError(handler.bodyError);
        return;
      }
      body = new RequestBodyGuard(this.cfg.max_body_bytes, this.cfg.upload_idle_timeout_ms);
      body.once('error', (err) => {
        if (err instanceof RequestBodyLimit) handler.bodyError = err;
        handler.abort(err);
      });
      req.once('aborted', () => body?.destroy());
      req.pipe(body);
    }
    // A GET without a body (nearly every request) sets up no stream, timer or listener for one.
    this.pool.dispatch({ path: f.path, method: req.method!, headers: f.headers, body }, handler);
  }

  /** Opens an upgraded (WebSocket) connection to the upstream. */
  upgrade(f: ForwardRequest, protocol: string, signal: AbortSignal): Promise<{ headers: Record<string, string | string[]>; socket: Duplex }> {
    return this.pool
      .upgrade({ path: f.path, method: f.req.method as 'GET', headers: f.headers, protocol, signal })
      .then(({ headers, socket }) => ({ headers: headers as Record<string, string | string[]>, socket }));
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
