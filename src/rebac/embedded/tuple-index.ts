// In-memory tuple storage indexed the way Check reads: by object, then
// relation (two maps: a lookup builds no key string), split into plain users
// (incl. wildcards; also the tupleset side of TTU) and usersets, so a check
// never scans unrelated tuples.
import { parseUser, tupleKeyString } from '../model/tuple-key.js';
import { restrictionKey } from '../model/typesystem.js';
import type { ParsedUser } from '../model/tuple-key.js';
import type { TupleKey } from '../model/types.js';

export interface StoredTuple {
  readonly key: TupleKey;
  readonly user: ParsedUser;
  /** restrictionKey(user, condition name): what the model's type restrictions are checked by. */
  readonly restriction: string;
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
  /** object → relation → bucket. */
  private readonly buckets = new Map<string, Map<string, Bucket>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  private bucket(object: string, relation: string): Bucket | undefined {
    return this.buckets.get(object)?.get(relation);
  }

  get(object: string, relation: string, user: string): StoredTuple | undefined {
    const b = this.bucket(object, relation);
    if (!b) return undefined;
    return user.includes('#') ? b.sets.get(user) : b.plain.get(user);
  }

  has(key: { object: string; relation: string; user: string }): boolean {
    return this.get(key.object, key.relation, key.user) !== undefined;
  }

  usersets(object: string, relation: string): Iterable<StoredTuple> {
    return this.bucket(object, relation)?.sets.values() ?? EMPTY;
  }

  plainUsers(object: string, relation: string): Iterable<StoredTuple> {
    return this.bucket(object, relation)?.plain.values() ?? EMPTY;
  }

  /** Adds or replaces; the user must already be known to parse. */
  add(key: TupleKey, timestamp: string): StoredTuple {
    const user = parseUser(key.user);
    if (!user) throw new Error(`malformed user in tuple ${tupleKeyString(key)}`);
    let relations = this.buckets.get(key.object);
    if (!relations) {
      relations = new Map();
      this.buckets.set(key.object, relations);
    }
    let b = relations.get(key.relation);
    if (!b) {
      b = { plain: new Map(), sets: new Map() };
      relations.set(key.relation, b);
    }
    const map = user.relation ? b.sets : b.plain;
    const stored: StoredTuple = { key, user, restriction: restrictionKey(user, key.condition?.name), timestamp };
    if (!map.has(key.user)) this.count++;
    map.set(key.user, stored);
    return stored;
  }

  remove(key: { object: string; relation: string; user: string }): boolean {
    const relations = this.buckets.get(key.object);
    const b = relations?.get(key.relation);
    if (!relations || !b) return false;
    const map = key.user.includes('#') ? b.sets : b.plain;
    if (!map.delete(key.user)) return false;
    this.count--;
    if (b.plain.size === 0 && b.sets.size === 0) {
      relations.delete(key.relation);
      if (relations.size === 0) this.buckets.delete(key.object);
    }
    return true;
  }

  *all(): IterableIterator<StoredTuple> {
    for (const relations of this.buckets.values()) {
      for (const b of relations.values()) {
        yield* b.plain.values();
        yield* b.sets.values();
      }
    }
  }
}
