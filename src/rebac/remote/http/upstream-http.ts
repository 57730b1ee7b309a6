// The HTTP connection to OpenFGA for the calls on the decision path (Check,
// BatchCheck) and the change feed: one undici Pool (keep-alive, at most
// `connections` sockets, HTTP/1.1), driven through undici's low-level
// dispatch API so a call costs a few small objects, not an axios config merge,
// a redirect follower and a stream per response.
//
// Every call is bounded three ways, and each bound is a fail-closed error:
//   - time: one timer per call aborts the request (queued, connecting, sending
//     or streaming the body — a slow drip ends at the deadline, not when the
//     server stops) and rejects at once;
//   - size: the body is counted as it arrives and the request aborted past
//     `maxBytes`, so a huge or endless answer costs at most that much memory;
//   - shape: redirects are never followed (an OpenFGA server does not send
//     them, and following one would send our credentials elsewhere).
// A connection that fails (reset, half-closed keep-alive) is dropped by the
// pool and the next call opens a new one.
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import { UpstreamError } from '../upstream-error.js';

export interface UpstreamHttpOptions {
  /** `http(s)://host[:port][/prefix]`. */
  readonly apiUrl: string;
  /** Most sockets open to OpenFGA at once; further calls queue (still under their deadline). */
  readonly connections: number;
}

export interface UpstreamResponse {
  readonly status: number;
  readonly body: Buffer;
  /** Seconds from a Retry-After header (429/503), when present and numeric. */
  readonly retryAfterS: number | undefined;
}

export interface UpstreamRequest {
  readonly method: 'GET' | 'POST';
  /** Path after the API prefix, with query string. */
  readonly path: string;
  readonly body?: string;
  readonly authorization: string | undefined;
  readonly timeoutMs: number;
  readonly maxBytes: number;
  /** For error messages: `check`, `batch_check`, `read_changes`. */
  readonly op: string;
}

const JSON_HEADERS = { 'content-type': 'application/json', accept: 'application/json' } as const;

export class UpstreamHttp {
  private readonly pool: Pool;
  private readonly prefix: string;

  constructor(opts: UpstreamHttpOptions) {
    const url = new URL(opts.apiUrl);
    this.prefix = url.pathname.replace(/\/+$/, '');
    this.pool = new Pool(url.origin, {
      connections: opts.connections,
      pipelining: 1,
      // Our own timer is the deadline; these are only a backstop for a call
      // whose timer could not be armed (there is none today).
      headersTimeout: 60_000,
      bodyTimeout: 60_000,
      keepAliveTimeout: 30_000,
      connect: { timeout: 10_000 },
    });
  }

  send(req: UpstreamRequest): Promise<UpstreamResponse> {
    return new Promise<UpstreamResponse>((resolve, reject) => {
      const handler = new ResponseCollector(req, resolve, reject);
      const headers: Record<string, string> = req.authorization === undefined
        ? JSON_HEADERS
        : { ...JSON_HEADERS, authorization: req.authorization };
      try {
        this.pool.dispatch({
          method: req.method,
          path: this.prefix + req.path,
          headers,
          body: req.body ?? null,
          // A POST is not retried on another socket by undici (not idempotent); we do not either.
          idempotent: false,
        }, handler);
      } catch (err) {
        handler.fail(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  /** Sockets open, busy and queued calls (for tests and diagnostics). */
  stats(): { connected: number; pending: number; running: number } {
    const s = this.pool.stats;
    return { connected: s.connected, pending: s.pending, running: s.running };
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}

/** One call's dispatch handler: collects a bounded body and settles once. */
class ResponseCollector implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private readonly timer: NodeJS.Timeout;
  private status = 0;
  private retryAfterS: number | undefined;
  private chunks: Buffer[] = [];
  private bytes = 0;
  private done = false;
  private abortWith: UpstreamError | undefined;

  constructor(
    private readonly req: UpstreamRequest,
    private readonly resolve: (r: UpstreamResponse) => void,
    private readonly reject: (e: UpstreamError) => void,
  ) {
    this.timer = setTimeout(() => this.abort(new UpstreamError('timeout', `OpenFGA ${req.op} took longer than ${req.timeoutMs} ms`)), req.timeoutMs);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    // The deadline passed while the call waited in the pool's queue.
    if (this.abortWith !== undefined) controller.abort(this.abortWith);
  }

  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    if (statusCode < 200) return; // 1xx: the real answer follows
    this.status = statusCode;
    if (statusCode >= 300 && statusCode < 400) {
      this.abort(new UpstreamError('redirect', `OpenFGA ${this.req.op} answered a redirect (HTTP ${statusCode}); redirects are not followed`));
      return;
    }
    const ra = headers['retry-after'];
    if (typeof ra === 'string' && /^\d{1,9}$/.test(ra.trim())) this.retryAfterS = Number(ra.trim());
  }

  onResponseData(_c: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.done) return;
    this.bytes += chunk.length;
    if (this.bytes > this.req.maxBytes) {
      this.abort(new UpstreamError('too_large', `OpenFGA ${this.req.op} answer is larger than ${this.req.maxBytes} bytes`));
      return;
    }
    this.chunks.push(chunk);
  }

  onResponseEnd(): void {
    if (this.done) return;
    this.settle();
    const body = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.bytes);
    this.chunks = [];
    this.resolve({ status: this.status, body, retryAfterS: this.retryAfterS });
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    this.fail(err);
  }

  fail(err: Error): void {
    if (this.done) return;
    this.settle();
    this.reject(this.abortWith ?? networkError(this.req.op, err));
  }

  private abort(e: UpstreamError): void {
    if (this.done) return;
    this.abortWith = e;
    this.settle();
    this.chunks = [];
    this.reject(e);
    // undici ends the request (and drops its socket); its onResponseError then finds us done.
    this.controller?.abort(e);
  }

  private settle(): void {
    this.done = true;
    clearTimeout(this.timer);
  }
}

function networkError(op: string, err: Error): UpstreamError {
  const code = (err as { code?: unknown }).code;
  const text = `OpenFGA ${op}: ${typeof code === 'string' ? `${code} ` : ''}${err.message}`;
  if (code === 'ECONNREFUSED') return new UpstreamError('refused', text);
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return new UpstreamError('timeout', text);
  if (code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE') return new UpstreamError('too_large', text);
  return new UpstreamError('network', text);
}
