// One forwarded request, as an undici dispatch handler: the upstream's status
// and headers become the client's, its body chunks are written to the client
// as they arrive (pausing the upstream while the client's socket is full),
// and its end ends the client's response.
//
// It is undici's own handler interface (onConnect / onHeaders / onData /
// onComplete / onError, which undici 7 drives directly) rather than
// pool.stream(): stream() wraps each request in an AbortSignal, an async
// resource, a stream finished() watcher and a parsed header object, which
// measured as a third of this proxy's own CPU per request (bench/RESULTS.md,
// issue 16 session 3). Here a client that goes away calls the abort function
// undici hands to onConnect, and headers stay raw until they are filtered.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { Decision } from '../../decision/types.js';
import { clientResponseHeaders } from './forwarded-headers.js';
import type { ProxyMetrics } from './proxy-metrics.js';
import type { RequestBodyLimit } from './request-body-guard.js';
import { classifyUpstreamError, type UpstreamFailure } from './upstream-errors.js';

/** Answers the client when forwarding failed before the upstream's status was sent (one function for the server, not one per request). */
export type FailureAnswer = (res: ServerResponse, failure: UpstreamFailure, detail: string, decision: Decision) => void;

export class ForwardHandler implements Dispatcher.DispatchHandler {
  /** Set once the request has a connection: aborting it destroys that upstream connection. */
  private abortUpstream: ((err?: Error) => void) | undefined;
  private clientGone = false;
  /** A request body limit that cut the upload: the answer names it rather than the abort it caused. */
  bodyError: RequestBodyLimit | undefined;
  private resume: (() => void) | undefined;
  private readonly started = performance.now();

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    /** Headers for the client from the decision (budget, decision id), in place of the upstream's under those names. */
    private readonly responseHeaders: Readonly<Record<string, string>>,
    private readonly via: string | undefined,
    private readonly metrics: ProxyMetrics,
    private readonly decision: Decision,
    private readonly fail: FailureAnswer,
  ) {
    // A response emits 'close' once: on() spares once()'s wrapper.
    res.on('close', this.onClientClose);
  }

  /** Aborts the upstream request (when it has started) with `err`. */
  abort(err: Error): void {
    this.abortUpstream?.(err);
  }

  onConnect(abort: (err?: Error) => void): void {
    // The client left while the request waited for a pooled connection: never send it.
    if (this.clientGone) abort();
    else this.abortUpstream = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    // 1xx informational answers (103 Early Hints…) are not relayed: only the final one is.
    if (statusCode < 200) return true;
    this.metrics.observeResponse((performance.now() - this.started) / 1000);
    this.res.writeHead(statusCode, clientResponseHeaders(rawHeaders, this.via, this.responseHeaders));
    this.resume = resume;
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.res.write(chunk)) return true;
    // The client's socket is full: undici stops reading the upstream until it drains.
    this.res.once('drain', this.resume!);
    return false;
  }

  onComplete(): void {
    this.res.end();
    this.metrics.count('ok');
  }

  onError(err: Error): void {
    const cause = this.bodyError ?? err;
    const failure = classifyUpstreamError(cause, this.clientGone);
    this.metrics.count(failure.outcome);
    if (this.clientGone) return;
    if (this.res.headersSent) this.res.destroy();
    else this.fail(this.res, failure, cause.message, this.decision);
    // The rest of a refused upload is not read: close the connection instead.
    if (this.bodyError !== undefined) this.req.unpipe();
  }

  private readonly onClientClose = (): void => {
    if (this.res.writableFinished) return;
    this.clientGone = true;
    this.abortUpstream?.();
  };
}
