// Follows the store's ReadChanges feed and evicts the cached decisions each
// change can affect, so a revoked permission stops being allowed within one
// poll interval instead of after the allow TTL.
//
// Start: the feed is read from `start_time` = the moment the feed started
// (minus a clock-skew margin) rather than from the beginning, so the store's
// old history is not replayed; as soon as OpenFGA hands out a continuation
// token the feed follows that. A full page is followed at once by the next,
// back to back until a short page (up to `maxPagesPerPoll`), so a burst of
// writes — 10,000 tuples is 100 pages — is caught up in one poll and a
// revocation at its end takes effect within one interval after it, not
// one interval per 50 pages. Each page is an await on the network: decisions
// keep being answered while the feed catches up.
// A poll that fails is logged and retried at the next interval; until it
// succeeds cached decisions live at most their TTL.
import type { Logger } from 'pino';
import type { RebacMetrics } from '../metrics.js';
import type { DecisionCache } from './decision-cache.js';
import type { FgaClient } from './fga-client.js';
import type { InvalidationRule } from './invalidation-rule.js';
import { UpstreamError } from './upstream-error.js';

export interface ChangeFeedOptions {
  client: FgaClient;
  cache: DecisionCache;
  rule: () => InvalidationRule;
  pollMs: number;
  pageSize: number;
  timeoutMs: number;
  /** Pages read back to back in one poll before yielding to the next interval. */
  maxPagesPerPoll: number;
  log: Logger;
  metrics: RebacMetrics;
  /** Wall-clock milliseconds; injectable for tests. */
  now?: () => number;
}

/** Changes up to this much older than our start are still read (server clock ahead of ours). */
const CLOCK_SKEW_MARGIN_MS = 5_000;

export class ChangeFeed {
  private token: string | undefined;
  private startTime: string;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;
  private polls = 0;
  private pages = 0;
  private lastFailure: string | undefined;

  constructor(private readonly opts: ChangeFeedOptions) {
    this.startTime = new Date((opts.now ?? Date.now)() - CLOCK_SKEW_MARGIN_MS).toISOString();
  }

  /** Successful polls so far (tests wait on it rather than on time). */
  get completedPolls(): number {
    return this.polls;
  }

  /** Pages read so far. */
  get pagesRead(): number {
    return this.pages;
  }

  start(): void {
    if (this.timer !== undefined || this.stopped) return;
    this.schedule(this.opts.pollMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** One poll (all pages available now); never throws. The owner awaits the first, then calls start(). */
  async pollOnce(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (let page = 0; page < this.opts.maxPagesPerPoll && !this.stopped; page++) {
        const res = await this.opts.client.readChanges(this.opts.pageSize, this.token, this.startTime, this.opts.timeoutMs);
        this.pages++;
        this.apply(res.changes);
        if (res.continuationToken !== '') this.token = res.continuationToken;
        if (res.changes.length < this.opts.pageSize) break;
      }
      this.polls++;
      if (this.lastFailure !== undefined) this.opts.log.info('rebac: change feed recovered');
      this.lastFailure = undefined;
    } catch (err) {
      this.onFailure(err);
    } finally {
      this.running = false;
    }
  }

  private apply(changes: ReadonlyArray<{ readonly tuple_key: { readonly object: string } }>): void {
    if (changes.length === 0) return;
    this.opts.metrics.changesApplied.inc(changes.length);
    const rule = this.opts.rule();
    for (const c of changes) {
      const scope = rule.scopeOf(c.tuple_key.object);
      if (scope.kind === 'all') {
        this.opts.cache.invalidateAll();
        return; // nothing left to evict for the rest of this page
      }
      this.opts.cache.invalidateObject(scope.object);
    }
  }

  private onFailure(err: unknown): void {
    const e = err instanceof UpstreamError ? err : new UpstreamError('other', String(err));
    // A token the server no longer accepts (store recreated, changelog
    // trimmed): drop everything cached and follow the feed from now.
    if (e.kind === 'bad_request' && this.token !== undefined) {
      this.token = undefined;
      this.startTime = new Date((this.opts.now ?? Date.now)() - CLOCK_SKEW_MARGIN_MS).toISOString();
      this.opts.cache.invalidateAll();
    }
    if (this.lastFailure !== e.message) this.opts.log.warn({ err: e.message, kind: e.kind }, 'rebac: change feed poll failed');
    this.lastFailure = e.message;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.pollOnce().finally(() => this.schedule(this.opts.pollMs));
    }, delayMs);
    this.timer.unref();
  }
}
