// In-memory tuple storage indexed the way Check reads: by (object, relation),
// split into plain users (incl. wildcards; also the tupleset side of TTU) and
// usersets, so a check never scans unrelated tuples.
import { parseUser, tupleKeyString } from '../model/tuple-key.js';
import type { ParsedUser } from '../model/tuple-key.js';
import type { TupleKey } from '../model/types.js';

export interface StoredTuple {
  readonly key: TupleKey;
  readonly user: ParsedUser;
  /** RFC 3339 write time. */
  readonly timestamp: string;
}

interface Bucket {
  readonly plain: Map<string, StoredTuple>;
  readonly sets: Map<string, StoredTuple>;
}

const EMPTY: readonly StoredTuple[] = [];

export interface TupleSource {
  get(object: string, relation: string, user: string): StoredTuple | undefined;
  usersets(object: string, relation: string): Iterable<StoredTuple>;
  plainUsers(object: string, relation: string): Iterable<StoredTuple>;
}

export class TupleIndex implements TupleSource {
  private readonly buckets = new Map<string, Bucket>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  private bucketKey(object: string, relation: string): string {
    return `${object}#${relation}`;
  }

  get(object: string, relation: string, user: string): StoredTuple | undefined {
    const b = this.buckets.get(this.bucketKey(object, relation));
    if (!b) return undefined;
    return user.includes('#') ? b.sets.get(user) : b.plain.get(user);
  }

  has(key: { object: string; relation: string; user: string }): boolean {
    return this.get(key.object, key.relation, key.user) !== undefined;
  }

  usersets(object: string, relation: string): Iterable<StoredTuple> {
    return this.buckets.get(this.bucketKey(object, relation))?.sets.values() ?? EMPTY;
  }

  plainUsers(object: string, relation: string): Iterable<StoredTuple> {
    return this.buckets.get(this.bucketKey(object, relation))?.plain.values() ?? EMPTY;
  }

  /** Adds or replaces; the user must already be known to parse. */
  add(key: TupleKey, timestamp: string): StoredTuple {
    const user = parseUser(key.user);
    if (!user) throw new Error(`malformed user in tuple ${tupleKeyString(key)}`);
    const bk = this.bucketKey(key.object, key.relation);
    let b = this.buckets.get(bk);
    if (!b) {
      b = { plain: new Map(), sets: new Map() };
      this.buckets.set(bk, b);
    }
    const map = user.relation ? b.sets : b.plain;
    const stored: StoredTuple = { key, user, timestamp };
    if (!map.has(key.user)) this.count++;
    map.set(key.user, stored);
    return stored;
  }

  remove(key: { object: string; relation: string; user: string }): boolean {
    const bk = this.bucketKey(key.object, key.relation);
    const b = this.buckets.get(bk);
    if (!b) return false;
    const map = key.user.includes('#') ? b.sets : b.plain;
    if (!map.delete(key.user)) return false;
    this.count--;
    if (b.plain.size === 0 && b.sets.size === 0) this.buckets.delete(bk);
    return true;
  }

  *all(): IterableIterator<StoredTuple> {
    for (const b of this.buckets.values()) {
      yield* b.plain.values();
      yield* b.sets.values();
    }
  }
}
