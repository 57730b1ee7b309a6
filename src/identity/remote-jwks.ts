// Keys from a remote JWKS URL, through jose's createRemoteJWKSet, which
// already does what an IdP rotation needs (checked in jose 6.2 source and in
// test/identity/remote-jwks.test.ts):
//  - the set is fetched once and cached for `jwks_cache_s` (cacheMaxAge);
//  - a token whose `kid` is not in the set triggers one refetch, unless the
//    set was fetched less than `jwks_cooldown_s` ago (cooldownDuration), so a
//    stream of tokens with made-up kids cannot turn into a stream of fetches;
//  - concurrent refetches share one request; each has `jwks_timeout_ms`.
// We add: a check of the response before jose sees it (size cap, every key
// importable, no private keys), fetch metrics, a background refresh so a
// request rarely waits on the network, and a typed error for "unreachable"
// so the verifier can fail closed with `jwks_unavailable`.
import { createRemoteJWKSet, customFetch, errors, type FetchImplementation, type JWTVerifyGetKey } from 'jose';
import type { Logger } from '../observability/logger.js';
import { parseJwksDocument } from './jwks-document.js';
import { JwksUnavailableError, type KeySource } from './key-source.js';
import { warmUpKeys } from './key-warmup.js';
import type { IdentityMetrics } from './metrics.js';

/** A JWKS is a few KiB; anything near this is not one. */
const MAX_JWKS_BYTES = 1024 * 1024;

export interface RemoteJwksOptions {
  readonly url: string;
  readonly timeoutMs: number;
  readonly cacheMaxAgeMs: number;
  readonly cooldownMs: number;
}

export function createRemoteKeySource(opts: RemoteJwksOptions, deps: { log: Logger; metrics: IdentityMetrics }): KeySource {
  const { log, metrics } = deps;
  const where = safeUrl(opts.url);
  const listeners: Array<() => void> = [];
  let lastText: string | undefined;

  const checkedFetch: FetchImplementation = async (url, init) => {
    let text: string;
    try {
      const res = await fetch(url, init);
      if (res.status !== 200) {
        await res.body?.cancel();
        throw new Error(`HTTP ${res.status}`);
      }
      text = await readCapped(res, MAX_JWKS_BYTES);
      await parseJwksDocument(text);
    } catch (err) {
      metrics.jwksFetch('error');
      log.warn({ jwks_url: where, error: describe(err) }, 'JWKS fetch failed');
      throw err;
    }
    metrics.jwksFetch('success');
    if (lastText !== undefined && text !== lastText) {
      log.info({ jwks_url: where }, 'remote JWKS changed');
      for (const listener of listeners) listener();
    }
    lastText = text;
    return new Response(text, { status: 200, headers: { 'content-type': 'application/json' } });
  };

  const remote = createRemoteJWKSet(new URL(opts.url), {
    timeoutDuration: opts.timeoutMs,
    cacheMaxAge: opts.cacheMaxAgeMs,
    cooldownDuration: opts.cooldownMs,
    [customFetch]: checkedFetch,
  });

  const getKey: JWTVerifyGetKey = async (header, token) => {
    try {
      return await remote(header, token);
    } catch (err) {
      // "No such key" is the token's problem; anything else is the endpoint's.
      if (
        err instanceof errors.JWKSNoMatchingKey ||
        err instanceof errors.JWKSMultipleMatchingKeys ||
        err instanceof errors.JOSENotSupported
      ) {
        throw err;
      }
      throw new JwksUnavailableError(`JWKS ${where} unavailable: ${describe(err)}`, { cause: err });
    }
  };

  const first = remote.reload().then(
    () => warmUpKeys(remote, remote.jwks() ?? { keys: [] }),
    (err: unknown) => {
      throw new Error(`cannot load JWKS from ${where}: ${describe(err)}`, { cause: err });
    },
  );
  first.catch(() => {}); // reported through ready()

  // Refresh ahead of expiry, so requests do not wait for jose's on-demand
  // refetch of a stale set. A failed refresh is logged by checkedFetch.
  const refresh = setInterval(() => void remote.reload().catch(() => {}), Math.max(1000, opts.cacheMaxAgeMs / 2));
  refresh.unref();

  return {
    getKey,
    ready: () => first,
    onChange: (listener) => void listeners.push(listener),
    close: () => clearInterval(refresh),
  };
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
  if (err.name === 'TimeoutError' || err.name === 'JWKSTimeout') return 'timed out';
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return `${err.message}${cause}`;
}
