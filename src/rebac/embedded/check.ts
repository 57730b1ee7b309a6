// Check with OpenFGA schema 1.1 semantics, synchronous and in memory.
//
// Each sub-problem "is <user> related to <object> as <relation>?" resolves to
// TRUE, FALSE, CYCLE or an error. CYCLE means the question depends on itself
// along the current path; like OpenFGA it never grants (a union needs another
// branch to be true) and, as the subtract of an exclusion, it denies. An error
// (a condition missing a parameter, the depth limit) only surfaces when no
// other branch decides the answer, as with OpenFGA's concurrent resolution.
import { FgaCheckError } from '../model/errors.js';
import type { CompiledRelation, TypeSystem } from '../model/typesystem.js';
import type { ParsedUser } from '../model/tuple-key.js';
import type { Userset } from '../model/types.js';
import type { StoredTuple, TupleSource } from './tuple-index.js';

/** OpenFGA's default resolution depth limit. */
export const DEFAULT_MAX_DEPTH = 25;

const FALSE = 0;
const TRUE = 1;
const CYCLE = 2;
type Outcome = typeof FALSE | typeof TRUE | typeof CYCLE | FgaCheckError;

/** Folds branch outcomes as a union: any TRUE wins; else an error; else CYCLE; else FALSE. */
class UnionFold {
  private err: FgaCheckError | undefined;
  private cycle = false;

  /** Returns true once the union is decided (a branch was TRUE). */
  add(r: Outcome): boolean {
    if (r === TRUE) return true;
    if (r === CYCLE) this.cycle = true;
    else if (r instanceof FgaCheckError) this.err ??= r;
    return false;
  }

  result(): Outcome {
    return this.err ?? (this.cycle ? CYCLE : FALSE);
  }
}

export interface ResolveOptions {
  readonly typesystem: TypeSystem;
  readonly sources: readonly TupleSource[];
  readonly context: Record<string, unknown> | undefined;
  readonly maxDepth?: number;
}

export class CheckResolver {
  private readonly ts: TypeSystem;
  private readonly sources: readonly TupleSource[];
  private readonly context: Record<string, unknown> | undefined;
  private readonly maxDepth: number;
  /** Results that did not depend on a node still on the path; valid for this request. */
  private readonly memo = new Map<string, Outcome>();
  private readonly path = new Map<string, number>();
  /** Lowest path index a cycle reached while evaluating the current node. */
  private low = Infinity;
  private readonly userStr: string;
  /** `type:*` of a plain user (whose public wildcard tuples count too); undefined for a userset or a wildcard. */
  private readonly userWildcard: string | undefined;

  constructor(opts: ResolveOptions, user: ParsedUser, userStr: string) {
    this.ts = opts.typesystem;
    this.sources = opts.sources;
    this.context = opts.context;
    this.maxDepth = opts.maxDepth ?? DEFAULT_MAX_DEPTH;
    this.userStr = userStr;
    this.userWildcard = user.relation || user.wildcard ? undefined : `${user.type}:*`;
  }

  /** Top level: true, false, or throws the error that decided the answer. */
  resolve(objectType: string, objectId: string, relation: string): boolean {
    const r = this.check(objectType, objectId, relation, 0);
    if (r instanceof FgaCheckError) throw r;
    return r === TRUE;
  }

  private check(objectType: string, objectId: string, relation: string, depth: number): Outcome {
    const key = `${objectType}:${objectId}#${relation}`;
    const memo = this.memo.get(key);
    if (memo !== undefined) return memo;
    const onPath = this.path.get(key);
    if (onPath !== undefined) {
      this.low = Math.min(this.low, onPath);
      return CYCLE;
    }
    if (depth >= this.maxDepth) {
      return new FgaCheckError('authorization_model_resolution_too_complex', `resolution depth of ${this.maxDepth} exceeded`);
    }
    const rel = this.ts.relation(objectType, relation);
    if (!rel) return FALSE;
    const index = this.path.size;
    this.path.set(key, index);
    const outerLow = this.low;
    this.low = Infinity;
    const r = this.rewrite(rel, rel.rewrite, objectType, objectId, depth);
    this.path.delete(key);
    const depthBound = r instanceof FgaCheckError && r.code === 'authorization_model_resolution_too_complex';
    if (this.low >= index && !depthBound) this.memo.set(key, r);
    this.low = Math.min(outerLow, this.low);
    return r;
  }

  private rewrite(rel: CompiledRelation, u: Userset, objectType: string, objectId: string, depth: number): Outcome {
    if (u.this) return this.direct(rel, objectType, objectId, depth);
    if (u.computedUserset) return this.check(objectType, objectId, u.computedUserset.relation!, depth + 1);
    if (u.tupleToUserset) return this.tupleToUserset(rel, u.tupleToUserset, objectType, objectId, depth);
    if (u.union) {
      const fold = new UnionFold();
      for (const c of u.union.child) if (fold.add(this.rewrite(rel, c, objectType, objectId, depth))) return TRUE;
      return fold.result();
    }
    if (u.intersection) {
      let err: FgaCheckError | undefined;
      let cycle = false;
      for (const c of u.intersection.child) {
        const r = this.rewrite(rel, c, objectType, objectId, depth);
        if (r === FALSE) return FALSE;
        if (r === CYCLE) cycle = true;
        else if (r instanceof FgaCheckError) err ??= r;
      }
      return cycle ? CYCLE : (err ?? TRUE);
    }
    if (u.difference) {
      const base = this.rewrite(rel, u.difference.base, objectType, objectId, depth);
      if (base === FALSE) return FALSE;
      const sub = this.rewrite(rel, u.difference.subtract, objectType, objectId, depth);
      if (sub === TRUE) return FALSE;
      if (base === CYCLE || sub === CYCLE) return CYCLE;
      if (base instanceof FgaCheckError) return base;
      if (sub instanceof FgaCheckError) return sub;
      return TRUE;
    }
    return FALSE;
  }

  /** A stored tuple counts only if the model still allows its shape, and its condition holds. */
  private tupleHolds(rel: CompiledRelation, t: StoredTuple): Outcome {
    const condName = t.key.condition?.name;
    if (!rel.allowed.has(t.restriction)) return FALSE;
    if (condName === undefined) return TRUE;
    const cond = this.ts.conditions.get(condName);
    if (!cond) return FALSE;
    try {
      return cond.evaluate(t.key.condition?.context, this.context, `${t.key.object}#${t.key.relation}@${t.key.user}`) ? TRUE : FALSE;
    } catch (err) {
      return err instanceof FgaCheckError ? err : new FgaCheckError('validation_error', String(err));
    }
  }

  private direct(rel: CompiledRelation, objectType: string, objectId: string, depth: number): Outcome {
    const object = `${objectType}:${objectId}`;
    const relation = rel.name;
    const wildcard = this.userWildcard;
    const fold = new UnionFold();
    for (const src of this.sources) {
      const exact = src.get(object, relation, this.userStr);
      if (exact && fold.add(this.tupleHolds(rel, exact))) return TRUE;
      if (wildcard !== undefined) {
        const wild = src.get(object, relation, wildcard);
        if (wild && fold.add(this.tupleHolds(rel, wild))) return TRUE;
      }
    }
    for (const src of this.sources) {
      for (const t of src.usersets(object, relation)) {
        if (t.key.user === this.userStr) continue;
        const holds = this.tupleHolds(rel, t);
        const r = holds === TRUE ? this.check(t.user.type, t.user.id, t.user.relation!, depth + 1) : holds;
        if (fold.add(r)) return TRUE;
      }
    }
    return fold.result();
  }

  private tupleToUserset(
    _rel: CompiledRelation,
    ttu: NonNullable<Userset['tupleToUserset']>,
    objectType: string,
    objectId: string,
    depth: number,
  ): Outcome {
    const object = `${objectType}:${objectId}`;
    const tuplesetRel = this.ts.relation(objectType, ttu.tupleset.relation!);
    if (!tuplesetRel) return FALSE;
    const computed = ttu.computedUserset.relation!;
    const fold = new UnionFold();
    for (const src of this.sources) {
      for (const t of src.plainUsers(object, tuplesetRel.name)) {
        if (t.user.wildcard || !this.ts.relation(t.user.type, computed)) continue;
        const holds = this.tupleHolds(tuplesetRel, t);
        const r = holds === TRUE ? this.check(t.user.type, t.user.id, computed, depth + 1) : holds;
        if (fold.add(r)) return TRUE;
      }
    }
    return fold.result();
  }
}
