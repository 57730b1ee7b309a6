// Polls an HTTP bundle server the way OPA's bundle plugin does: GET with
// If-None-Match carrying the ETag of the bundle in use; 304 means nothing
// changed; 200 brings a bundle that is handed to `onBundle` (which activates
// it or throws); anything else is an error. After an error the ETag is
// forgotten (the next GET fetches in full) and the next attempt waits an
// exponential backoff; after a success it waits a random delay in
// [min_delay_s, max_delay_s]. Every request has a deadline. Redirects stay
// on the configured origin unless `cross_origin_redirects` allows otherwise,
// and the configured headers never leave it (util/fetch-with-redirects.ts).
import type { Logger } from '../../observability/logger.js';
import { getFollowingRedirects } from '../../util/fetch-with-redirects.js';
import { backoffMs, pollDelayMs } from './backoff.js';

export type PollOutcome = 'activated' | 'not_modified' | 'error';

export interface HttpPollerOptions {
  readonly url: string;
  /** Configured headers (API keys, bearer token): sent to the configured origin only. */
  readonly headers: Readonly<Record<string, string>>;
  /** Follow a redirect to another origin (without the configured headers). */
  readonly crossOriginRedirects?: boolean;
  readonly timeoutMs: number;
  readonly maxBytes: number;
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
  readonly log: Logger;
  /** Activates a downloaded bundle; throws when it is refused (the old one stays). */
  readonly onBundle: (bytes: Uint8Array) => Promise<void>;
  /** Called after every attempt with its outcome and the delay before the next one (tests, debug logs). */
  readonly onAttempt?: (outcome: PollOutcome, nextDelayMs: number, error?: Error) => void;
  readonly random?: () => number;
}

export class HttpBundlePoller {
  private etag: string | undefined;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly stop = new AbortController();

  constructor(private readonly opts: HttpPollerOptions) {}

  start(): void {
    void this.poll();
  }

  close(): void {
    this.stop.abort();
    if (this.timer) clearTimeout(this.timer);
  }

  private async poll(): Promise<void> {
    if (this.stop.signal.aborted) return;
    const random = this.opts.random ?? Math.random;
    let outcome: PollOutcome;
    let error: Error | undefined;
    let delay: number;
    try {
      outcome = await this.once();
      this.failures = 0;
      delay = pollDelayMs(this.opts.minDelayMs, this.opts.maxDelayMs, random);
    } catch (err) {
      if (this.stop.signal.aborted) return;
      outcome = 'error';
      error = err as Error;
      this.etag = undefined;
      delay = backoffMs(this.failures, this.opts.maxDelayMs, random);
      this.failures++;
      this.opts.log.error({ url: this.opts.url, err: error.message, retry_in_ms: delay }, 'policy bundle download failed');
    }
    this.opts.onAttempt?.(outcome, delay, error);
    if (this.stop.signal.aborted) return;
    this.timer = setTimeout(() => void this.poll(), delay);
    this.timer.unref();
  }

  private async once(): Promise<PollOutcome> {
    const headers: Record<string, string> = {
      accept: 'application/vnd.openpolicyagent.bundles, application/gzip, application/octet-stream',
    };
    if (this.etag !== undefined) headers['if-none-match'] = this.etag;
    const signal = AbortSignal.any([AbortSignal.timeout(this.opts.timeoutMs), this.stop.signal]);
    const res = await getFollowingRedirects(this.opts.url, { headers, credentials: this.opts.headers, signal },
      { crossOrigin: this.opts.crossOriginRedirects ?? false });
    if (res.status === 304) {
      await res.body?.cancel();
      return 'not_modified';
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new Error(`bundle server replied ${res.status}`);
    }
    const bytes = await readCapped(res, this.opts.maxBytes);
    await this.opts.onBundle(bytes);
    this.etag = res.headers.get('etag') ?? undefined;
    return 'activated';
  }
}

async function readCapped(res: Response, maxBytes: number): Promise<Uint8Array> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > maxBytes) {
    await res.body?.cancel();
    throw new Error(`bundle of ${declared} bytes exceeds max_bytes (${maxBytes})`);
  }
  if (res.body === null) throw new Error('bundle server replied 200 with no body');
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw new Error(`bundle exceeds max_bytes (${maxBytes})`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}
