// Cached OpenFGA decisions, bounded (LRU) with separate TTLs for allowed and
// denied answers, and indexed by the objects each decision depends on so the
// change feed can evict exactly those.
//
// A decision on (user, relation, object) is indexed under `object`, and, when
// the user is a userset (`group:eng#member`), under the userset's object
// (`group:eng`) too. Whether an object-level eviction is enough for a change
// is the invalidation rule's business (invalidation-rule.ts).
import { LRUCache } from 'lru-cache';
import type { RebacMetrics } from '../metrics.js';

interface Entry {
  readonly allowed: boolean;
  readonly object: string;
  /** The userset's object when the user is `type:id#relation`. */
  readonly userObject: string | undefined;
}

export interface DecisionCacheOptions {
  max: number;
  allowTtlMs: number;
  denyTtlMs: number;
  metrics: RebacMetrics;
}

export class DecisionCache {
  private readonly lru: LRUCache<string, Entry>;
  private readonly byObject = new Map<string, Set<string>>();
  /** Bumped by every eviction from the change feed; see `generation`. */
  private epoch = 0;
  private invalidating = false;

  constructor(private readonly opts: DecisionCacheOptions) {
    this.lru = new LRUCache<string, Entry>({
      max: opts.max,
      // Expired entries are dropped when touched or pushed out by LRU; no timers.
      ttlAutopurge: false,
      allowStale: false,
      updateAgeOnGet: false,
      disposeAfter: (entry, key, reason) => this.unindex(entry, key, reason),
    });
  }

  get size(): number {
    return this.lru.size;
  }

  /** undefined on a miss (absent or expired). */
  get(key: string): boolean | undefined {
    return this.lru.get(key)?.allowed;
  }

  /**
   * The invalidation generation. A caller reads it before an upstream call
   * and passes it to `set`: if the feed evicted anything meanwhile, the
   * answer may predate that change and is not cached.
   */
  generation(): number {
    return this.epoch;
  }

  set(key: string, allowed: boolean, object: string, user: string, generation: number): void {
    if (generation !== this.epoch) return;
    const ttl = allowed ? this.opts.allowTtlMs : this.opts.denyTtlMs;
    if (ttl <= 0) return;
    const hash = user.indexOf('#');
    const userObject = hash < 0 ? undefined : user.slice(0, hash);
    this.lru.set(key, { allowed, object, userObject }, { ttl });
    this.index(object, key);
    if (userObject !== undefined) this.index(userObject, key);
  }

  /** Evicts every decision indexed under `object`; returns how many. */
  invalidateObject(object: string): number {
    this.epoch++;
    const keys = this.byObject.get(object);
    if (keys === undefined) return 0;
    this.invalidating = true;
    let n = 0;
    try {
      for (const key of [...keys]) if (this.lru.delete(key)) n++;
    } finally {
      this.invalidating = false;
    }
    this.byObject.delete(object);
    this.opts.metrics.cacheEvictions.inc({ reason: 'invalidation' }, n);
    return n;
  }

  /** Evicts everything (a change the object index cannot bound). */
  invalidateAll(): number {
    this.epoch++;
    const n = this.lru.size;
    this.invalidating = true;
    try {
      this.lru.clear();
    } finally {
      this.invalidating = false;
    }
    this.byObject.clear();
    if (n > 0) this.opts.metrics.cacheEvictions.inc({ reason: 'invalidation' }, n);
    return n;
  }

  private index(object: string, key: string): void {
    let keys = this.byObject.get(object);
    if (keys === undefined) {
      keys = new Set();
      this.byObject.set(object, keys);
    }
    keys.add(key);
  }

  private unindex(entry: Entry, key: string, reason: LRUCache.DisposeReason): void {
    if (reason === 'set') return; // replaced by a new entry under the same key, still indexed
    if (!this.invalidating) {
      if (reason === 'evict') this.opts.metrics.cacheEvictions.inc({ reason: 'capacity' });
      else if (reason === 'expire') this.opts.metrics.cacheEvictions.inc({ reason: 'expired' });
    }
    this.drop(entry.object, key);
    if (entry.userObject !== undefined) this.drop(entry.userObject, key);
  }

  private drop(object: string, key: string): void {
    const keys = this.byObject.get(object);
    if (keys === undefined) return;
    keys.delete(key);
    if (keys.size === 0) this.byObject.delete(object);
  }
}
