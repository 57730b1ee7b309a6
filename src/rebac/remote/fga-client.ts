// The four OpenFGA calls remote mode makes, through @openfga/sdk, each under
// a hard deadline. The SDK retries 429 and 5xx (and network errors) with
// exponential backoff by default — up to 3 retries, seconds of waiting — which
// would blow any per-check deadline; here retries are off (maxRetry 0): the
// breaker and the next request are the retry policy. Every call gets an
// AbortSignal (axios cancels the socket) and is also raced against its own
// timer, so even a stage the signal does not reach (the client-credentials
// token exchange) cannot outlive the deadline.
import { CredentialsMethod, OpenFgaClient } from '@openfga/sdk';
import type { ClientReadChangesRequest, ClientRequestOpts, UserClientConfigurationParams } from '@openfga/sdk';
import type { RemoteConfig } from '../config.js';
import type { FgaCheck } from '../checker.js';
import type { RebacMetrics } from '../metrics.js';
import type { AuthorizationModel, TupleKey } from '../model/types.js';
import { classifyUpstreamError, UpstreamError } from './upstream-error.js';

export type UpstreamOp = 'check' | 'batch_check' | 'read_changes' | 'read_model';

/** One answer of a BatchCheck: allowed, or the item's own error. */
export type BatchItemOutcome = { readonly allowed: boolean } | { readonly error: UpstreamError };

export interface ChangePage {
  readonly changes: ReadonlyArray<{ readonly tuple_key: TupleKey; readonly operation: string }>;
  readonly continuationToken: string;
}

/** The SDK passes unknown request options on to axios; `signal` is one. */
type AbortableOpts = ClientRequestOpts & { signal?: AbortSignal; authorizationModelId?: string };

const NO_RETRY = { maxRetry: 0, minWaitInMs: 0 } as const;

export class FgaClient {
  readonly sdk: OpenFgaClient;

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
  }

  check(c: FgaCheck, modelId: string, timeoutMs: number): Promise<boolean> {
    return this.call('check', timeoutMs, async (signal) => {
      const body = {
        user: c.user,
        relation: c.relation,
        object: c.object,
        ...(c.context !== undefined ? { context: c.context } : {}),
        ...(c.contextualTuples !== undefined ? { contextualTuples: [...c.contextualTuples] } : {}),
      };
      const res = await this.sdk.check(body, this.opts(signal, modelId));
      if (typeof res.allowed !== 'boolean') throw new UpstreamError('other', 'check response without allowed');
      return res.allowed;
    });
  }

  /** One BatchCheck request for all checks (the caller keeps batches at most 50 long). */
  batchCheck(checks: readonly FgaCheck[], modelId: string, timeoutMs: number): Promise<BatchItemOutcome[]> {
    return this.call('batch_check', timeoutMs, async (signal) => {
      const res = await this.sdk.batchCheck(
        {
          checks: checks.map((c, i) => ({
            user: c.user,
            relation: c.relation,
            object: c.object,
            correlationId: `c${i}`,
            ...(c.context !== undefined ? { context: c.context } : {}),
            ...(c.contextualTuples !== undefined ? { contextualTuples: { tuple_keys: [...c.contextualTuples] } } : {}),
          })),
        },
        { ...this.opts(signal, modelId), maxBatchSize: 50, maxParallelRequests: 1 },
      );
      const byId = new Map(res.result.map((r) => [r.correlationId, r]));
      return checks.map((_, i): BatchItemOutcome => {
        const r = byId.get(`c${i}`);
        if (r === undefined) return { error: new UpstreamError('other', `batch-check answered no result for check #${i + 1}`) };
        const e = r.error as { input_error?: unknown; internal_error?: unknown; message?: string } | undefined;
        if (e !== undefined && (e.input_error !== undefined || e.internal_error !== undefined || (e.message ?? '') !== '')) {
          const kind = e.internal_error !== undefined ? 'http_5xx' : 'bad_request';
          return { error: new UpstreamError(kind, `${String(e.input_error ?? e.internal_error ?? '')}: ${e.message ?? ''}`) };
        }
        return { allowed: r.allowed === true };
      });
    });
  }

  readChanges(pageSize: number, continuationToken: string | undefined, startTime: string | undefined, timeoutMs: number): Promise<ChangePage> {
    return this.call('read_changes', timeoutMs, async (signal) => {
      // No `type`: the feed covers every type (the SDK's type says required, the API does not).
      const body = (startTime !== undefined && continuationToken === undefined ? { startTime } : {}) as ClientReadChangesRequest;
      const res = await this.sdk.readChanges(body, {
        pageSize,
        ...(continuationToken !== undefined ? { continuationToken } : {}),
        retryParams: NO_RETRY,
        signal,
      } as AbortableOpts & { pageSize: number; continuationToken?: string });
      return {
        changes: (res.changes ?? []).flatMap((c) =>
          c.tuple_key === undefined ? [] : [{ tuple_key: c.tuple_key as unknown as TupleKey, operation: String(c.operation) }]),
        continuationToken: res.continuation_token ?? '',
      };
    });
  }

  /** The pinned model, or the store's latest when no id is given. */
  readModel(modelId: string | undefined, timeoutMs: number): Promise<AuthorizationModel & { id: string }> {
    return this.call('read_model', timeoutMs, async (signal) => {
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

  private opts(signal: AbortSignal, modelId: string): AbortableOpts {
    return { retryParams: NO_RETRY, signal, authorizationModelId: modelId };
  }

  private async call<T>(op: UpstreamOp, timeoutMs: number, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
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
