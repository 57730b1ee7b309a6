// Keys from a remote JWKS URL. The set is fetched, checked as a whole
// (jwks-document.ts: size, every key importable, no private keys, no RSA key
// too costly to verify with), and only then replaces the one in use; jose's
// createLocalJWKSet picks the key for each token. What this source promises:
//  - Start does not depend on the key server: the first fetch is retried
//    with a growing delay (250 ms doubling to 30 s, jittered) until a set
//    loads; until then tokens are refused `jwks_unavailable` and ready()
//    stays pending, so the sidecar listens, reports not ready and recovers
//    by itself when the identity provider comes back.
//  - Once loaded, the set is refreshed in the background every jwks_cache_s/2;
//    a failed refresh keeps the last good set (an IdP outage does not log
//    everyone out) and is retried with the same backoff.
//  - A token whose `kid` is not in the set triggers a refetch only if no
//    fetch — successful or failed — started within `jwks_cooldown_s`, so a
//    stream of made-up kids cannot turn into a stream of fetches, even while
//    the endpoint fails. Concurrent refetches share one request.
//  - Every fetch has `jwks_timeout_ms`, a size cap, a metric, and follows
//    redirects only on the configured origin unless
//    `jwks_cross_origin_redirects` allows otherwise.
import { createLocalJWKSet, errors, type JWTVerifyGetKey } from 'jose';
import type { Logger } from '../observability/logger.js';
import { getFollowingRedirects } from '../util/fetch-with-redirects.js';
import { DEFAULT_JWKS_LIMITS, parseJwksDocument, type JwksLimits } from './jwks-document.js';
import { JwksUnavailableError, type KeySource } from './key-source.js';
import { warmUpKeys } from './key-warmup.js';
import type { IdentityMetrics } from './metrics.js';

/** A JWKS is a few KiB; anything near this is not one. */
const MAX_JWKS_BYTES = 1024 * 1024;
const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 30_000;

type KeySet = ReturnType<typeof createLocalJWKSet>;

export interface RemoteJwksOptions {
  readonly url: string;
  readonly timeoutMs: number;
  readonly cacheMaxAgeMs: number;
  readonly cooldownMs: number;
  readonly crossOriginRedirects?: boolean;
  readonly limits?: JwksLimits;
  /** Milliseconds clock for the cooldown; tests inject one. Default performance.now. */
  readonly now?: () => number;
}

export function createRemoteKeySource(opts: RemoteJwksOptions, deps: { log: Logger; metrics: IdentityMetrics }): KeySource {
  const { log, metrics } = deps;
  const now = opts.now ?? (() => performance.now());
  const where = safeUrl(opts.url);
  const listeners: Array<() => void> = [];
  let keys: KeySet | undefined;
  let loadedText: string | undefined;
  let lastError = 'not fetched yet';
  let lastAttemptAt = Number.NEGATIVE_INFINITY;
  let inflight: Promise<void> | undefined;
  let failures = 0;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let markLoaded!: () => void;
  const loaded = new Promise<void>((resolve) => (markLoaded = resolve));

  const fetchOnce = async (): Promise<void> => {
    let text: string;
    let doc: Awaited<ReturnType<typeof parseJwksDocument>>;
    try {
      const res = await getFollowingRedirects(opts.url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(opts.timeoutMs) },
        { crossOrigin: opts.crossOriginRedirects ?? false });
      if (res.status !== 200) {
        await res.body?.cancel();
        throw new Error(`HTTP ${res.status}`);
      }
      text = await readCapped(res, MAX_JWKS_BYTES);
      doc = text === loadedText ? { jwks: keys!.jwks(), ignored: [] } : await parseJwksDocument(text, opts.limits ?? DEFAULT_JWKS_LIMITS);
    } catch (err) {
      metrics.jwksFetch('error');
      lastError = describe(err);
      log.warn({ jwks_url: where, error: lastError }, 'JWKS fetch failed');
      throw err;
    }
    metrics.jwksFetch('success');
    if (text === loadedText) return;
    for (const why of doc.ignored) {
      metrics.jwksKeyIgnored();
      log.warn({ jwks_url: where }, `JWKS key ${why}`);
    }
    const next = createLocalJWKSet(doc.jwks);
    await warmUpKeys(next, doc.jwks);
    const replaced = keys !== undefined;
    keys = next;
    loadedText = text;
    if (replaced) {
      log.info({ jwks_url: where }, 'remote JWKS changed');
      for (const listener of listeners) listener();
    } else {
      log.info({ jwks_url: where, kids: doc.jwks.keys.map((k) => k.kid ?? '(no kid)') }, 'remote JWKS loaded');
      markLoaded();
    }
  };

  /** One fetch, shared by everyone who asks while it runs. */
  const refetch = (): Promise<void> => {
    if (inflight === undefined) {
      lastAttemptAt = now();
      inflight = fetchOnce().finally(() => (inflight = undefined));
    }
    return inflight;
  };

  const schedule = (delayMs: number): void => {
    if (closed) return;
    timer = setTimeout(() => {
      refetch().then(
        () => {
          failures = 0;
          schedule(Math.max(1000, opts.cacheMaxAgeMs / 2));
        },
        () => schedule(retryDelayMs(failures++)),
      );
    }, delayMs);
    timer.unref();
  };
  schedule(0);

  const getKey: JWTVerifyGetKey = async (header, token) => {
    const current = keys;
    if (current === undefined) throw new JwksUnavailableError(`JWKS ${where} unavailable: ${lastError}`);
    try {
      return await current(header, token);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey) || now() - lastAttemptAt < opts.cooldownMs) throw err;
    }
    // An unknown kid may be a rotation: one refetch, then the new set decides.
    try {
      await refetch();
    } catch (err) {
      throw new JwksUnavailableError(`JWKS ${where} unavailable: ${describe(err)}`, { cause: err });
    }
    return keys!(header, token);
  };

  return {
    getKey,
    ready: () => loaded,
    onChange: (listener) => void listeners.push(listener),
    close: () => {
      closed = true;
      if (timer) clearTimeout(timer);
    },
  };
}

/** 250 ms doubling to 30 s, ±20 % so a fleet does not retry in lockstep. */
function retryDelayMs(failuresBefore: number): number {
  const base = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(failuresBefore, 20));
  return Math.round(base * (0.8 + 0.4 * Math.random()));
}

async function readCapped(res: Response, max: number): Promise<string> {
  const declared = Number(res.headers.get('content-length'));
  if (declared > max) {
    await res.body?.cancel();
    throw new Error(`response larger than ${max} bytes`);
  }
  if (res.body === null) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > max) throw new Error(`response larger than ${max} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The URL without credentials or query, for logs and errors. */
function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '(invalid url)';
  }
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  if (err.name === 'TimeoutError' || err.name === 'AbortError') return 'timed out';
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return `${err.message}${cause}`;
}
