// Remote mode: checks answered by an OpenFGA server, through a decision
// cache. The hot path, in order:
//   1. every check in the cache → the answers, synchronously (no promise);
//   2. a miss that an identical in-flight call is already fetching joins it
//      (coalescing: N concurrent identical checks make one upstream call);
//   3. the remaining misses go up as ONE call — Check for one, BatchCheck for
//      several — unless the breaker is open, which denies at once;
//   4. each waiter is bounded by the call's timeout_ms and by its own
//      request's deadline; any failure denies `rebac_unavailable`, an invalid
//      check `rebac_bad_request`. Nothing is ever allowed on error.
// A route asking for HIGHER_CONSISTENCY skips 1 and 2: its checks go up
// as one call with that preference, and the answer is not cached (it would
// be served later to MINIMIZE_LATENCY checks as if fresh, and the point of
// the option is an answer no cache stands between).
import type { Logger } from 'pino';
import { StageFailure } from '../../decision/stage-failure.js';
import type { RemoteConfig } from '../config.js';
import { checkKey, type FgaCheck, type RebacChecker } from '../checker.js';
import type { RebacMetrics } from '../metrics.js';
import { REBAC_BAD_REQUEST, REBAC_UNAVAILABLE } from '../reasons.js';
import { BreakerState, CircuitBreaker } from './breaker.js';
import { ChangeFeed } from './change-feed.js';
import { DecisionCache } from './decision-cache.js';
import { FgaClient } from './fga-client.js';
import type { BatchItemOutcome, Consistency } from './fga-client.js';
import { InvalidationRule } from './invalidation-rule.js';
import type { AuthorizationModel } from '../model/types.js';
import { UpstreamError } from './upstream-error.js';
import { timeLimit } from '../../util/time-limit.js';

export interface RemoteCheckerOptions {
  config: RemoteConfig;
  log: Logger;
  metrics: RebacMetrics;
}

/** OpenFGA's default cap on checks per BatchCheck. */
const MAX_BATCH = 50;

export class RemoteChecker implements RebacChecker {
  readonly mode = 'remote' as const;
  readonly client: FgaClient;
  readonly cache: DecisionCache;
  readonly breaker: CircuitBreaker;
  readonly feed: ChangeFeed;
  private readonly inFlight = new Map<string, Promise<boolean>>();
  private readonly config: RemoteConfig;
  private readonly log: Logger;
  private readonly metrics: RebacMetrics;
  private pinnedModel: string | undefined;
  private scope = '';
  private rule = InvalidationRule.conservative();
  private started: Promise<void> | undefined;
  private closed = false;
  private model: AuthorizationModel | undefined;
  private readonly modelChecks: Array<(model: AuthorizationModel) => void> = [];

  constructor(opts: RemoteCheckerOptions) {
    this.config = opts.config;
    this.log = opts.log;
    this.metrics = opts.metrics;
    this.client = new FgaClient(opts.config, opts.metrics);
    this.cache = new DecisionCache({
      max: opts.config.cache.max,
      allowTtlMs: opts.config.cache.allow_ttl_ms,
      denyTtlMs: opts.config.cache.deny_ttl_ms,
      metrics: opts.metrics,
    });
    opts.metrics.breakerState.set(BreakerState.Closed);
    this.breaker = new CircuitBreaker({
      failureThreshold: opts.config.breaker.failure_threshold,
      openMs: opts.config.breaker.open_ms,
      onStateChange: (s) => {
        opts.metrics.breakerState.set(s);
        const name = s === BreakerState.Open ? 'open' : s === BreakerState.HalfOpen ? 'half-open' : 'closed';
        (s === BreakerState.Open ? opts.log.warn : opts.log.info).call(opts.log, { state: name }, 'rebac: OpenFGA circuit breaker');
      },
    });
    this.feed = new ChangeFeed({
      client: this.client,
      cache: this.cache,
      rule: () => this.rule,
      pollMs: opts.config.changes.poll_ms,
      pageSize: opts.config.changes.page_size,
      timeoutMs: opts.config.changes.timeout_ms,
      maxPagesPerPoll: opts.config.changes.max_pages_per_poll,
      log: opts.log,
      metrics: opts.metrics,
    });
  }

  modelId(): string | undefined {
    return this.pinnedModel;
  }

  /** The circuit breaker guarding OpenFGA (for status). */
  breakerState(): 'closed' | 'open' | 'half-open' {
    const s = this.breaker.state;
    return s === BreakerState.Open ? 'open' : s === BreakerState.HalfOpen ? 'half-open' : 'closed';
  }

  withModel(check: (model: AuthorizationModel) => void): void {
    if (this.model !== undefined) check(this.model);
    else this.modelChecks.push(check);
  }

  isReady(): boolean {
    return this.pinnedModel !== undefined && !this.closed;
  }

  /**
   * Reads the model (pinning the latest when none is configured) — it gives
   * the model id every check sends and the invalidation rule — and starts the
   * change feed. Retries reading the model until `startup_timeout_ms`, then
   * rejects.
   */
  ready(): Promise<void> {
    this.started ??= this.start();
    return this.started;
  }

  private async start(): Promise<void> {
    await this.readModel();
    // The first poll settles where the feed stands before any decision is
    // cached (an answer cached while it ran would not be kept anyway).
    await this.feed.pollOnce();
    this.feed.start();
  }

  private async readModel(): Promise<void> {
    const giveUpAt = performance.now() + this.config.startup_timeout_ms;
    let delay = 50;
    for (;;) {
      try {
        const model = await this.client.readModel(this.config.authorization_model_id, Math.max(this.config.timeout_ms, 2000));
        // Route options checked against the model; a failure here is a config error, not an outage.
        for (const check of this.modelChecks.splice(0)) check(model);
        this.model = model;
        this.rule = InvalidationRule.fromModel(model);
        this.pinnedModel = model.id;
        this.scope = `${this.config.store_id}/${model.id}\u0001`;
        this.log.info(
          { storeId: this.config.store_id, modelId: model.id, indirectTypes: [...(this.rule.indirect ?? [])] },
          'rebac: remote OpenFGA ready',
        );
        return;
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        if (!(err instanceof UpstreamError)) throw new Error(`rebac: a route's options do not fit the authorization model: ${message}`, { cause: err });
        if (this.closed) throw new Error('rebac: closed before OpenFGA was reached', { cause: err });
        if (performance.now() + delay > giveUpAt || (err instanceof UpstreamError && (err.kind === 'not_found' || err.kind === 'bad_request' || err.kind === 'auth'))) {
          throw new Error(`rebac: cannot read the authorization model from OpenFGA at ${this.config.api_url} (store ${this.config.store_id}): ${message}`, { cause: err });
        }
        this.log.warn({ err: message }, 'rebac: OpenFGA not reachable yet; retrying');
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 1000);
      }
    }
  }

  checkAll(checks: readonly FgaCheck[], deadline: number): readonly boolean[] | Promise<readonly boolean[]> {
    const modelId = this.pinnedModel;
    if (modelId === undefined) throw new StageFailure(REBAC_UNAVAILABLE, 503, 'OpenFGA model not loaded yet');
    const n = checks.length;
    if (n > 0 && checks[0]!.higherConsistency === true) return this.fetchConsistent(checks, modelId, deadline);
    const answers = new Array<boolean>(n);
    let keys: string[] | undefined;
    for (let i = 0; i < n; i++) {
      const c = checks[i]!;
      const key = this.keyOf(c);
      const hit = this.cache.get(key);
      if (hit !== undefined) {
        answers[i] = hit;
        continue;
      }
      keys ??= new Array<string>(n);
      keys[i] = key;
    }
    if (keys === undefined) {
      this.metrics.cacheHits.inc(n);
      return answers;
    }
    return this.fetchMisses(checks, keys, answers, modelId, deadline);
  }

  private fetchMisses(
    checks: readonly FgaCheck[],
    keys: string[],
    answers: boolean[],
    modelId: string,
    deadline: number,
  ): Promise<readonly boolean[]> {
    const waits: Array<Promise<boolean>> = [];
    const slots: number[] = [];
    const toFetch = new Map<string, FgaCheck>();
    let hits = 0;
    for (let i = 0; i < checks.length; i++) {
      const key = keys[i];
      if (key === undefined) {
        hits++;
        continue;
      }
      if (this.inFlight.has(key) || toFetch.has(key)) this.metrics.coalesced.inc();
      else toFetch.set(key, checks[i]!);
    }
    if (hits > 0) this.metrics.cacheHits.inc(hits);
    this.metrics.cacheMisses.inc(checks.length - hits);
    if (toFetch.size > 0) {
      if (!this.breaker.tryAcquire()) {
        this.metrics.breakerRejected.inc();
        throw new StageFailure(REBAC_UNAVAILABLE, 503, 'OpenFGA circuit breaker open');
      }
      this.startCall(toFetch, modelId);
    }
    for (let i = 0; i < checks.length; i++) {
      const key = keys[i];
      if (key === undefined) continue;
      waits.push(this.inFlight.get(key)!);
      slots.push(i);
    }
    const all = Promise.all(waits).then((results) => {
      for (let j = 0; j < results.length; j++) answers[slots[j]!] = results[j]!;
      return answers as readonly boolean[];
    });
    return boundedBy(all, deadline, this.config.timeout_ms);
  }

  /** HIGHER_CONSISTENCY: one call for all checks, no cache, no coalescing (a joined call may predate ours). */
  private fetchConsistent(checks: readonly FgaCheck[], modelId: string, deadline: number): Promise<readonly boolean[]> {
    this.metrics.cacheBypassed.inc(checks.length);
    if (!this.breaker.tryAcquire()) {
      this.metrics.breakerRejected.inc();
      throw new StageFailure(REBAC_UNAVAILABLE, 503, 'OpenFGA circuit breaker open');
    }
    const timeout = this.config.timeout_ms;
    const call: Promise<BatchItemOutcome[]> = checks.length === 1
      ? this.client.check(checks[0]!, modelId, timeout, 'HIGHER_CONSISTENCY').then((allowed) => [{ allowed }])
      : this.batched([...checks], modelId, timeout, 'HIGHER_CONSISTENCY');
    const answers = this.reportToBreaker(call).then((outcomes) => outcomes.map((o) => {
      if ('error' in o) throw o.error;
      return o.allowed;
    })).catch((err: unknown) => {
      throw toStageFailure(err);
    });
    return boundedBy(answers, deadline, this.config.timeout_ms);
  }

  /** The call's outcome feeds the breaker: outages count, invalid checks do not. */
  private reportToBreaker(call: Promise<BatchItemOutcome[]>): Promise<BatchItemOutcome[]> {
    return call.then(
      (outcomes) => {
        this.breaker.onSuccess();
        return outcomes;
      },
      (err: unknown) => {
        const e = err instanceof UpstreamError ? err : new UpstreamError('other', String(err));
        if (e.isOutage) this.breaker.onFailure();
        else this.breaker.onSuccess();
        throw e;
      },
    );
  }

  /** One upstream call for all keys; registers one in-flight promise per key. */
  private startCall(toFetch: Map<string, FgaCheck>, modelId: string): void {
    const entries = [...toFetch];
    const generation = this.cache.generation();
    const timeout = this.config.timeout_ms;
    const call: Promise<BatchItemOutcome[]> =
      entries.length === 1
        ? this.client.check(entries[0]![1], modelId, timeout).then((allowed) => [{ allowed }])
        : this.batched(entries.map((e) => e[1]), modelId, timeout);
    const settled = this.reportToBreaker(call);
    entries.forEach(([key, check], j) => {
      const one = settled.then((outcomes) => {
        const o = outcomes[j]!;
        if ('error' in o) throw o.error;
        this.cache.set(key, o.allowed, check.object, check.user, generation);
        return o.allowed;
      }).catch((err: unknown) => {
        throw toStageFailure(err);
      }).finally(() => {
        if (this.inFlight.get(key) === one) this.inFlight.delete(key);
      });
      // A waiter always attaches; this keeps an abandoned call from being an unhandled rejection.
      one.catch(() => undefined);
      this.inFlight.set(key, one);
    });
  }

  /** BatchCheck in chunks of OpenFGA's limit; a route rarely has more than a few checks. */
  private async batched(checks: FgaCheck[], modelId: string, timeout: number, consistency?: Consistency): Promise<BatchItemOutcome[]> {
    if (checks.length <= MAX_BATCH) return this.client.batchCheck(checks, modelId, timeout, consistency);
    const chunks: FgaCheck[][] = [];
    for (let i = 0; i < checks.length; i += MAX_BATCH) chunks.push(checks.slice(i, i + MAX_BATCH));
    return (await Promise.all(chunks.map((c) => this.client.batchCheck(c, modelId, timeout, consistency)))).flat();
  }

  /** Store and model are fixed per checker; the key still names them so a key is meaningful on its own. */
  private keyOf(c: FgaCheck): string {
    return `${this.scope}${checkKey(c)}`;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.feed.stop();
    await this.client.close();
  }
}

function toStageFailure(err: unknown): StageFailure {
  if (err instanceof StageFailure) return err;
  if (err instanceof UpstreamError && err.kind === 'bad_request') return new StageFailure(REBAC_BAD_REQUEST, 403, err.message);
  return new StageFailure(REBAC_UNAVAILABLE, 503, err instanceof Error ? err.message : String(err));
}

/**
 * Rejects with rebac_unavailable 1 ms before the request's deadline, so the
 * denial names the dependency rather than the engine's generic
 * deadline_exceeded (whose timer, set after ours, would fire at the deadline).
 */
function boundedBy<T>(p: Promise<T>, deadline: number, callTimeoutMs: number): Promise<T> {
  const remaining = Math.floor(deadline - performance.now()) - 1;
  if (remaining <= 0) {
    p.catch(() => undefined);
    return Promise.reject(new StageFailure(REBAC_UNAVAILABLE, 503, 'no time left for OpenFGA'));
  }
  // Every call this waits on started at most now and is aborted timeout_ms
  // after its start: when that is inside the deadline, a second timer per
  // request would never fire first.
  if (remaining > callTimeoutMs + 1) return p;
  return timeLimit(p, remaining, () => new StageFailure(REBAC_UNAVAILABLE, 503, 'request deadline reached waiting for OpenFGA'));
}
