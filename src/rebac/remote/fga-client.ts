// The four OpenFGA calls remote mode makes, each under a hard deadline, a
// byte cap and strict answer checking, with its latency or its failure kind
// recorded.
//
// Check, BatchCheck and ReadChanges go through our own undici Pool
// (http/upstream-http.ts) speaking OpenFGA's HTTP API (http/wire.ts): these
// are the decision path and the feed that keeps it fresh, and @openfga/sdk's
// axios path cost ~1 ms of CPU per Check (bench/RESULTS.md, issue 15).
// Reading the model stays on @openfga/sdk: it runs at start only. The
// client-credentials token comes from the SDK's Credentials (http/authorization.ts).
// No call is retried (the SDK's retries are off too): the breaker and the
// next request are the retry policy, and a retry would blow the deadline.
import { CredentialsMethod, OpenFgaClient } from '@openfga/sdk';
import type { ClientRequestOpts, UserClientConfigurationParams } from '@openfga/sdk';
import type { Histogram } from 'prom-client';
import type { RemoteConfig } from '../config.js';
import type { FgaCheck } from '../checker.js';
import type { RebacMetrics } from '../metrics.js';
import type { AuthorizationModel } from '../model/types.js';
import { authorizationFor } from './http/authorization.js';
import type { AuthorizationSource } from './http/authorization.js';
import { UpstreamHttp } from './http/upstream-http.js';
import type { UpstreamRequest, UpstreamResponse } from './http/upstream-http.js';
import {
  batchCheckBody, checkBody, readBatchCheckAnswer, readChangesAnswer, readChangesQuery, readCheckAnswer,
} from './http/wire.js';
import type { BatchItemOutcome, ChangePage, Consistency } from './http/wire.js';
import { classifyUpstreamError, UpstreamError } from './upstream-error.js';

export type { BatchItemOutcome, ChangePage, Consistency } from './http/wire.js';

export type UpstreamOp = 'check' | 'batch_check' | 'read_changes' | 'read_model';

/** The SDK passes unknown request options on to axios; `signal` is one. */
type AbortableOpts = ClientRequestOpts & { signal?: AbortSignal; authorizationModelId?: string };

const NO_RETRY = { maxRetry: 0, minWaitInMs: 0 } as const;

export class FgaClient {
  /** Model reads (start-up) only. */
  readonly sdk: OpenFgaClient;
  readonly http: UpstreamHttp;
  private readonly auth: AuthorizationSource;
  private readonly storePath: string;
  private readonly seconds: Record<'check' | 'batch_check' | 'read_changes', Histogram.Internal<'op'>>;

  constructor(
    private readonly config: RemoteConfig,
    private readonly metrics: RebacMetrics,
  ) {
    const params: UserClientConfigurationParams = {
      apiUrl: config.api_url.replace(/\/+$/, ''),
      storeId: config.store_id,
      retryParams: NO_RETRY,
      // OpenTelemetry recording per call is work the sidecar's own metrics already do.
      telemetry: { metrics: {} },
    };
    if (config.authorization_model_id !== undefined) params.authorizationModelId = config.authorization_model_id;
    if (config.api_token !== undefined) {
      params.credentials = { method: CredentialsMethod.ApiToken, config: { token: config.api_token } };
    } else if (config.client_credentials !== undefined) {
      const cc = config.client_credentials;
      params.credentials = {
        method: CredentialsMethod.ClientCredentials,
        config: { apiTokenIssuer: cc.api_token_issuer, apiAudience: cc.api_audience, clientId: cc.client_id, clientSecret: cc.client_secret },
      };
    }
    this.sdk = new OpenFgaClient(params);
    this.http = new UpstreamHttp({ apiUrl: config.api_url, connections: config.connections });
    this.auth = authorizationFor(config);
    this.storePath = `/stores/${encodeURIComponent(config.store_id)}`;
    // Bound once: a labelled child per call would look its labels up every time.
    this.seconds = {
      check: metrics.upstreamSeconds.labels({ op: 'check' }),
      batch_check: metrics.upstreamSeconds.labels({ op: 'batch_check' }),
      read_changes: metrics.upstreamSeconds.labels({ op: 'read_changes' }),
    };
  }

  check(c: FgaCheck, modelId: string, timeoutMs: number, consistency?: Consistency): Promise<boolean> {
    return this.send('check', {
      method: 'POST',
      path: `${this.storePath}/check`,
      body: checkBody(c, modelId, consistency),
      timeoutMs,
      maxBytes: this.config.max_response_bytes,
    }, readCheckAnswer);
  }

  /** One BatchCheck request for all checks (the caller keeps batches at most 50 long). */
  batchCheck(checks: readonly FgaCheck[], modelId: string, timeoutMs: number, consistency?: Consistency): Promise<BatchItemOutcome[]> {
    return this.send('batch_check', {
      method: 'POST',
      path: `${this.storePath}/batch-check`,
      body: batchCheckBody(checks, modelId, consistency),
      timeoutMs,
      maxBytes: this.config.max_response_bytes,
    }, (res) => readBatchCheckAnswer(res, checks.length));
  }

  /** One page of the feed; `startTime` only when there is no token yet. No `type`: the feed covers every type. */
  readChanges(pageSize: number, continuationToken: string | undefined, startTime: string | undefined, timeoutMs: number): Promise<ChangePage> {
    return this.send('read_changes', {
      method: 'GET',
      path: `${this.storePath}/changes${readChangesQuery(pageSize, continuationToken, startTime)}`,
      timeoutMs,
      maxBytes: this.config.changes.max_response_bytes,
    }, (res) => readChangesAnswer(res, pageSize));
  }

  /** The pinned model, or the store's latest when no id is given. */
  readModel(modelId: string | undefined, timeoutMs: number): Promise<AuthorizationModel & { id: string }> {
    return this.sdkCall('read_model', timeoutMs, async (signal) => {
      const opts: AbortableOpts = { retryParams: NO_RETRY, signal };
      const res = modelId !== undefined
        ? await this.sdk.readAuthorizationModel({ ...opts, authorizationModelId: modelId })
        : await this.sdk.readLatestAuthorizationModel(opts);
      const model = res.authorization_model as unknown as (AuthorizationModel & { id?: string }) | undefined;
      if (model === undefined || typeof model.id !== 'string' || model.id === '') {
        throw new UpstreamError('not_found', 'the store has no authorization model');
      }
      return model as AuthorizationModel & { id: string };
    });
  }

  close(): Promise<void> {
    return this.http.close();
  }

  private send<T>(
    op: 'check' | 'batch_check' | 'read_changes',
    req: Omit<UpstreamRequest, 'op' | 'authorization'>,
    read: (res: UpstreamResponse) => T,
  ): Promise<T> {
    const started = performance.now();
    const onError = (err: unknown): never => {
      const e = err instanceof UpstreamError ? err : new UpstreamError('other', err instanceof Error ? err.message : String(err));
      this.metrics.upstreamErrors.inc({ op, kind: e.kind });
      throw e;
    };
    const go = (authorization: string | undefined, timeoutMs: number): Promise<T> =>
      this.http.send({ ...req, timeoutMs, op, authorization }).then((res) => {
        const out = read(res);
        this.seconds[op].observe((performance.now() - started) / 1000);
        return out;
      });
    try {
      const auth = this.auth.header();
      if (typeof auth === 'string' || auth === undefined) return go(auth, req.timeoutMs).catch(onError);
      // A token exchange counts against the same deadline as the call it serves.
      return withTimeout(auth, req.timeoutMs, op)
        .then((a) => {
          const left = req.timeoutMs - (performance.now() - started);
          if (left <= 0) throw new UpstreamError('timeout', `OpenFGA ${op} took longer than ${req.timeoutMs} ms (token exchange)`);
          return go(a, left);
        })
        .catch(onError);
    } catch (err) {
      return Promise.reject(err).catch(onError);
    }
  }

  private async sdkCall<T>(op: UpstreamOp, timeoutMs: number, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const started = performance.now();
    const ac = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new UpstreamError('timeout', `OpenFGA ${op} took longer than ${timeoutMs} ms`));
        ac.abort();
      }, timeoutMs);
    });
    try {
      const result = await Promise.race([fn(ac.signal), expired]);
      this.metrics.upstreamSeconds.observe({ op }, (performance.now() - started) / 1000);
      return result;
    } catch (err) {
      const e = classifyUpstreamError(err);
      this.metrics.upstreamErrors.inc({ op, kind: e.kind });
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, op: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new UpstreamError('timeout', `OpenFGA ${op} took longer than ${ms} ms (token exchange)`)), ms);
  });
  return Promise.race([p, expired]).finally(() => clearTimeout(timer));
}
