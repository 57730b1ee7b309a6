// One OpenFGA store held in memory: authorization model versions, tuples
// indexed for Check, and a changelog of writes and deletes for ReadChanges.
import { FgaCheckError, validationError } from '../model/errors.js';
import { parseObject, parseUser, tupleKeyString } from '../model/tuple-key.js';
import { normalizeTupleKey, validateTupleForModel } from '../model/tuples.js';
import { TypeSystem } from '../model/typesystem.js';
import type { AuthorizationModel, TupleKey } from '../model/types.js';
import { CheckResolver, DEFAULT_MAX_DEPTH } from './check.js';
import { validateCheckRequest } from './check-request.js';
import type { EmbeddedCheckRequest } from './check-request.js';
import { TupleIndex } from './tuple-index.js';
import type { StoredTuple } from './tuple-index.js';
import { isUlid, ulid, ulidTime } from './ulid.js';

export type TupleOperation = 'TUPLE_OPERATION_WRITE' | 'TUPLE_OPERATION_DELETE';

export interface TupleChange {
  readonly tuple_key: TupleKey;
  readonly operation: TupleOperation;
  readonly timestamp: string;
  /** Position in the changelog (monotonic ULID). */
  readonly ulid: string;
}

export interface ReadFilter {
  user?: string;
  relation?: string;
  object?: string;
}

export interface WriteOptions {
  /** Model to validate writes against; the latest when omitted. */
  authorizationModelId?: string;
  onDuplicate?: 'error' | 'ignore';
  onMissing?: 'error' | 'ignore';
  /** Skip per-tuple model validation (already validated by the caller). */
  trusted?: boolean;
}

export interface StoreOptions {
  id?: string;
  name?: string;
  maxDepth?: number;
  /** Changelog entries kept; the oldest are dropped beyond this. */
  maxChanges?: number;
}

function encodeToken(obj: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(obj)).toString('base64url');
}

function decodeToken(token: string): Record<string, unknown> {
  try {
    const v = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new FgaCheckError('invalid_continuation_token', 'invalid continuation token');
}

function clonePublic(t: TupleKey): TupleKey {
  const out: TupleKey = { object: t.object, relation: t.relation, user: t.user };
  if (t.condition) out.condition = { name: t.condition.name, ...(t.condition.context ? { context: t.condition.context } : {}) };
  return out;
}

export class EmbeddedStore {
  readonly id: string;
  name: string;
  readonly createdAt: string;
  updatedAt: string;
  private readonly maxDepth: number;
  private readonly maxChanges: number;
  private readonly models: TypeSystem[] = [];
  private readonly tuples = new TupleIndex();
  private changes: TupleChange[] = [];
  private revisionCount = 0;

  constructor(opts: StoreOptions = {}) {
    this.id = opts.id ?? ulid();
    this.name = opts.name ?? 'embedded';
    this.createdAt = new Date().toISOString();
    this.updatedAt = this.createdAt;
    this.maxDepth = opts.maxDepth ?? DEFAULT_MAX_DEPTH;
    this.maxChanges = opts.maxChanges ?? 1_000_000;
  }

  get tupleCount(): number {
    return this.tuples.size;
  }

  /**
   * Bumped by every change of what a check can answer (a model version, a
   * tuple written or deleted): an answer remembered at one revision holds
   * while the revision is the same.
   */
  get revision(): number {
    return this.revisionCount;
  }

  /** Validates and stores a new model version; returns its id. */
  writeAuthorizationModel(model: AuthorizationModel): string {
    const ts = new TypeSystem(model, ulid());
    this.models.push(ts);
    this.touch();
    return ts.id;
  }

  /** The model with this id, or the latest when no id is given. */
  getModel(id?: string): TypeSystem {
    if (id) {
      const found = this.models.find((m) => m.id === id);
      if (!found) {
        if (!isUlid(id)) throw validationError(`invalid authorization_model_id '${id}'`);
        throw new FgaCheckError('authorization_model_not_found', `authorization model '${id}' not found`);
      }
      return found;
    }
    const latest = this.models[this.models.length - 1];
    if (!latest) throw new FgaCheckError('latest_authorization_model_not_found', `no authorization model found for store '${this.id}'`);
    return latest;
  }

  /** Newest first, as OpenFGA lists them. */
  listModels(): TypeSystem[] {
    return this.models.slice().reverse();
  }

  check(req: EmbeddedCheckRequest): { allowed: boolean } {
    const ts = this.getModel(req.authorization_model_id);
    const v = validateCheckRequest(ts, req);
    const sources = [this.tuples];
    if (v.contextual.length > 0) {
      const overlay = new TupleIndex();
      const now = new Date().toISOString();
      for (const t of v.contextual) overlay.add(t, now);
      sources.unshift(overlay);
    }
    const resolver = new CheckResolver({ typesystem: ts, sources, context: v.context, maxDepth: this.maxDepth }, v.user, v.userStr);
    return { allowed: resolver.resolve(v.object.type, v.object.id, v.relation) };
  }

  /** Writes and deletes as one transaction (all or nothing), like OpenFGA's Write. */
  write(writes: readonly TupleKey[], deletes: readonly TupleKey[], opts: WriteOptions = {}): void {
    if (writes.length === 0 && deletes.length === 0) throw validationError('a write request needs at least one write or delete');
    const ts = writes.length > 0 && !opts.trusted ? this.getModel(opts.authorizationModelId) : undefined;
    const seen = new Set<string>();
    const toWrite: TupleKey[] = [];
    const toDelete: TupleKey[] = [];
    writes.forEach((raw, i) => {
      const t = opts.trusted ? raw : normalizeTupleKey(raw, `writes #${i + 1}`);
      if (ts) validateTupleForModel(ts, t, 'validation_error');
      const k = tupleKeyString(t);
      if (seen.has(k)) throw new FgaCheckError('cannot_allow_duplicate_tuples_in_one_request', `duplicate tuple in request: '${k}'`);
      seen.add(k);
      if (this.tuples.has(t)) {
        if (opts.onDuplicate === 'ignore') return;
        throw new FgaCheckError('write_failed_due_to_invalid_input', `cannot write a tuple which already exists: '${k}'`);
      }
      toWrite.push(t);
    });
    deletes.forEach((raw, i) => {
      const t = opts.trusted ? raw : normalizeTupleKey(raw, `deletes #${i + 1}`);
      if (!parseObject(t.object) || !parseUser(t.user)) throw validationError(`deletes #${i + 1}: malformed tuple '${tupleKeyString(t)}'`);
      const k = tupleKeyString(t);
      if (seen.has(k)) throw new FgaCheckError('cannot_allow_duplicate_tuples_in_one_request', `duplicate tuple in request: '${k}'`);
      seen.add(k);
      if (!this.tuples.has(t)) {
        if (opts.onMissing === 'ignore') return;
        throw new FgaCheckError('write_failed_due_to_invalid_input', `cannot delete a tuple which does not exist: '${k}'`);
      }
      toDelete.push(t);
    });
    const now = new Date().toISOString();
    for (const t of toDelete) {
      const stored = this.tuples.get(t.object, t.relation, t.user);
      this.tuples.remove(t);
      this.record(stored ? stored.key : t, 'TUPLE_OPERATION_DELETE', now);
    }
    for (const t of toWrite) {
      const key = clonePublic(t);
      this.tuples.add(key, now);
      this.record(key, 'TUPLE_OPERATION_WRITE', now);
    }
    if (toWrite.length + toDelete.length > 0) this.touch();
  }

  /**
   * Makes the stored tuples exactly `next` (already validated), recording the
   * difference in the changelog; used when a tuples file is reloaded.
   */
  replaceTuples(next: readonly TupleKey[]): { written: number; deleted: number } {
    const sameCondition = (a: TupleKey, b: TupleKey): boolean =>
      JSON.stringify(a.condition ?? null) === JSON.stringify(b.condition ?? null);
    const wanted = new Map<string, TupleKey>();
    for (const t of next) wanted.set(tupleKeyString(t), t);
    const deletes: TupleKey[] = [];
    for (const s of this.tuples.all()) {
      const w = wanted.get(tupleKeyString(s.key));
      if (!w || !sameCondition(w, s.key)) deletes.push(s.key);
    }
    const writes: TupleKey[] = [];
    for (const t of wanted.values()) {
      const s = this.tuples.get(t.object, t.relation, t.user);
      if (!s || !sameCondition(s.key, t)) writes.push(t);
    }
    if (deletes.length > 0) this.write([], deletes, { trusted: true });
    if (writes.length > 0) this.write(writes, [], { trusted: true });
    return { written: writes.length, deleted: deletes.length };
  }

  /** OpenFGA Read: filter by object (or `type:` with a user), relation and user; paginated. */
  read(filter: ReadFilter | undefined, pageSize = 50, continuationToken?: string): { tuples: { key: TupleKey; timestamp: string }[]; continuation_token: string } {
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 100) throw new FgaCheckError('page_size_invalid', 'page_size must be between 1 and 100');
    const f = filter ?? {};
    let typeOnly: string | undefined;
    let objectExact: string | undefined;
    if (f.object) {
      if (f.object.endsWith(':')) {
        typeOnly = f.object.slice(0, -1);
        if (!f.user) throw validationError("the 'user' field is required when 'object' names only a type");
      } else if (!parseObject(f.object)) {
        throw validationError(`invalid 'object' field format: '${f.object}'`);
      } else objectExact = f.object;
    } else if (f.relation || f.user) {
      throw validationError("the 'object' field is required when filtering by relation or user");
    }
    const after = continuationToken ? String(decodeToken(continuationToken).k ?? '') : '';
    const matches: StoredTuple[] = [];
    for (const s of this.tuples.all()) {
      const k = s.key;
      if (objectExact && k.object !== objectExact) continue;
      if (typeOnly && !k.object.startsWith(`${typeOnly}:`)) continue;
      if (f.relation && k.relation !== f.relation) continue;
      if (f.user && k.user !== f.user) continue;
      if (after && tupleKeyString(k) <= after) continue;
      matches.push(s);
    }
    matches.sort((a, b) => (tupleKeyString(a.key) < tupleKeyString(b.key) ? -1 : 1));
    const page = matches.slice(0, pageSize);
    const more = matches.length > pageSize;
    return {
      tuples: page.map((s) => ({ key: clonePublic(s.key), timestamp: s.timestamp })),
      continuation_token: more ? encodeToken({ k: tupleKeyString(page[page.length - 1]!.key) }) : '',
    };
  }

  /**
   * OpenFGA ReadChanges. With no more changes the token given is returned, so
   * a poller can keep following the feed from where it stopped.
   */
  readChanges(opts: { type?: string; pageSize?: number; continuationToken?: string; startTime?: string } = {}): {
    changes: { tuple_key: TupleKey; operation: TupleOperation; timestamp: string }[];
    continuation_token: string;
  } {
    const pageSize = opts.pageSize ?? 50;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 100) throw new FgaCheckError('page_size_invalid', 'page_size must be between 1 and 100');
    let afterUlid = '';
    if (opts.continuationToken) {
      const tok = decodeToken(opts.continuationToken);
      if (typeof tok.u !== 'string') throw new FgaCheckError('invalid_continuation_token', 'invalid continuation token');
      if ((tok.t ?? '') !== (opts.type ?? '')) {
        throw new FgaCheckError('query_string_type_continuation_token_mismatch', 'the type in the continuation token does not match the requested type');
      }
      afterUlid = tok.u;
    } else if (opts.startTime) {
      const ms = Date.parse(opts.startTime);
      if (Number.isNaN(ms)) throw new FgaCheckError('invalid_start_time', `invalid start_time '${opts.startTime}'`);
      afterUlid = '';
      // Entries at or after start_time: skip those strictly earlier.
      const firstIdx = this.changes.findIndex((c) => ulidTime(c.ulid) >= ms);
      if (firstIdx === -1) return { changes: [], continuation_token: opts.continuationToken ?? '' };
      if (firstIdx > 0) afterUlid = this.changes[firstIdx - 1]!.ulid;
    }
    let lo = 0;
    if (afterUlid) {
      let hi = this.changes.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (this.changes[mid]!.ulid <= afterUlid) lo = mid + 1;
        else hi = mid;
      }
    }
    const out: TupleChange[] = [];
    let last = afterUlid;
    for (let i = lo; i < this.changes.length && out.length < pageSize; i++) {
      const c = this.changes[i]!;
      last = c.ulid;
      if (opts.type && !c.tuple_key.object.startsWith(`${opts.type}:`)) continue;
      out.push(c);
    }
    return {
      changes: out.map((c) => ({ tuple_key: clonePublic(c.tuple_key), operation: c.operation, timestamp: c.timestamp })),
      continuation_token: last ? encodeToken({ u: last, t: opts.type ?? '' }) : (opts.continuationToken ?? ''),
    };
  }

  private record(key: TupleKey, operation: TupleOperation, timestamp: string): void {
    this.changes.push({ tuple_key: key, operation, timestamp, ulid: ulid() });
    // Trim in batches so a full changelog does not cost a copy per write.
    if (this.changes.length > this.maxChanges + 1024) this.changes = this.changes.slice(this.changes.length - this.maxChanges);
  }

  private touch(): void {
    this.revisionCount++;
    this.updatedAt = new Date().toISOString();
  }
}
