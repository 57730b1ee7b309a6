// A validated, indexed authorization model: what the check engine and tuple
// validation consult. Building one validates the model the way OpenFGA does
// on WriteAuthorizationModel, with messages that name the type and relation.
import { FgaCheckError } from './errors.js';
import { compileCondition } from './conditions.js';
import type { CompiledCondition } from './conditions.js';
import { KNOWN_PARAM_TYPES } from './condition-params.js';
import { isValidName } from './tuple-key.js';
import type { ParsedUser } from './tuple-key.js';
import type { AuthorizationModel, ConditionParamTypeRef, RelationReference, TypeDefinition, Userset } from './types.js';

/** OpenFGA's default cap on a serialized model (256 KiB). */
export const MAX_MODEL_BYTES = 256 * 1024;

export interface CompiledRelation {
  readonly type: string;
  readonly name: string;
  readonly rewrite: Userset;
  readonly directTypes: readonly RelationReference[];
  /** `user`, `user:*`, `group#member`, each followed by `|<condition or empty>`. */
  readonly allowed: ReadonlySet<string>;
}

function refKey(type: string, wildcard: boolean, relation: string | undefined): string {
  if (wildcard) return `${type}:*`;
  return relation ? `${type}#${relation}` : type;
}

export function userRefKey(u: ParsedUser): string {
  return refKey(u.type, u.wildcard, u.relation);
}

/**
 * What a relation's type restrictions are looked up by for a tuple of this
 * user shape and condition (CompiledRelation.allowed holds these): the tuple
 * index computes it once per stored tuple, not once per check.
 */
export function restrictionKey(u: ParsedUser, condition: string | undefined): string {
  return `${userRefKey(u)}|${condition ?? ''}`;
}

function invalid(message: string): FgaCheckError {
  return new FgaCheckError('invalid_authorization_model', message);
}

function rewriteKind(u: Userset): string {
  const kinds = ['this', 'computedUserset', 'tupleToUserset', 'union', 'intersection', 'difference'].filter(
    (k) => (u as Record<string, unknown>)[k] !== undefined && (u as Record<string, unknown>)[k] !== null,
  );
  if (kinds.length !== 1) throw invalid(`a relation rewrite must have exactly one of this, computedUserset, tupleToUserset, union, intersection, difference (found ${kinds.join(', ') || 'none'})`);
  return kinds[0]!;
}

/** Accepts both the proto json_name and the snake_case spelling on input. */
export function normalizeUserset(raw: unknown): Userset {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw invalid('a relation rewrite must be an object');
  const r = raw as Record<string, unknown>;
  const out: Userset = {};
  if (r.this !== undefined && r.this !== null) out.this = {};
  const cu = r.computedUserset ?? r.computed_userset;
  if (cu !== undefined && cu !== null) out.computedUserset = { relation: String((cu as Record<string, unknown>).relation ?? '') };
  const ttu = (r.tupleToUserset ?? r.tuple_to_userset) as Record<string, unknown> | undefined | null;
  if (ttu !== undefined && ttu !== null) {
    const ts = (ttu.tupleset ?? {}) as Record<string, unknown>;
    const cs = (ttu.computedUserset ?? ttu.computed_userset ?? {}) as Record<string, unknown>;
    out.tupleToUserset = { tupleset: { relation: String(ts.relation ?? '') }, computedUserset: { relation: String(cs.relation ?? '') } };
  }
  for (const op of ['union', 'intersection'] as const) {
    const v = r[op] as Record<string, unknown> | undefined | null;
    if (v !== undefined && v !== null) {
      const child = v.child;
      if (!Array.isArray(child) || child.length === 0) throw invalid(`${op} needs at least one child`);
      out[op] = { child: child.map(normalizeUserset) };
    }
  }
  const diff = r.difference as Record<string, unknown> | undefined | null;
  if (diff !== undefined && diff !== null) {
    if (!diff.base || !diff.subtract) throw invalid('difference needs a base and a subtract');
    out.difference = { base: normalizeUserset(diff.base), subtract: normalizeUserset(diff.subtract) };
  }
  rewriteKind(out);
  return out;
}

function hasThis(u: Userset): boolean {
  if (u.this) return true;
  if (u.union) return u.union.child.some(hasThis);
  if (u.intersection) return u.intersection.child.some(hasThis);
  if (u.difference) return hasThis(u.difference.base) || hasThis(u.difference.subtract);
  return false;
}

export class TypeSystem {
  readonly id: string;
  readonly model: AuthorizationModel;
  private readonly types = new Map<string, Map<string, CompiledRelation>>();
  readonly conditions = new Map<string, CompiledCondition>();

  constructor(model: AuthorizationModel, id: string) {
    this.id = id;
    this.model = { ...model, id };
    this.build(model);
  }

  hasType(type: string): boolean {
    return this.types.has(type);
  }

  relation(type: string, relation: string): CompiledRelation | undefined {
    return this.types.get(type)?.get(relation);
  }

  /** Whether a tuple with this user shape and condition satisfies the relation's type restrictions. */
  isAllowed(rel: CompiledRelation, user: ParsedUser, condition: string | undefined): boolean {
    return rel.allowed.has(restrictionKey(user, condition));
  }

  private build(model: AuthorizationModel): void {
    if (model === null || typeof model !== 'object') throw invalid('the model must be an object');
    if (model.schema_version !== '1.1' && model.schema_version !== '1.2') {
      throw new FgaCheckError('invalid_authorization_model', `unsupported schema version '${String(model.schema_version)}' (expected 1.1)`);
    }
    if (!Array.isArray(model.type_definitions) || model.type_definitions.length === 0) {
      throw new FgaCheckError('type_definitions_too_few_items', 'the model must define at least one type');
    }
    for (const [name, cond] of Object.entries(model.conditions ?? {})) {
      if (!cond || typeof cond.expression !== 'string') throw invalid(`condition '${name}' has no expression`);
      if (cond.name && cond.name !== name) throw invalid(`condition key '${name}' does not match its name '${cond.name}'`);
      for (const [param, ref] of Object.entries(cond.parameters ?? {})) this.checkParamType(name, param, ref);
      this.conditions.set(name, compileCondition({ ...cond, name }));
    }
    const defs: TypeDefinition[] = model.type_definitions;
    for (const td of defs) {
      if (!td || typeof td.type !== 'string' || !isValidName(td.type)) throw invalid(`invalid type name '${String(td?.type)}'`);
      if (this.types.has(td.type)) throw new FgaCheckError('cannot_allow_duplicate_types_in_one_request', `type '${td.type}' is defined twice`);
      this.types.set(td.type, new Map());
    }
    // First pass: relation names and rewrites; second pass: references (they may point forward).
    const pending: { td: TypeDefinition; name: string; rewrite: Userset; refs: RelationReference[] }[] = [];
    for (const td of defs) {
      const metaRels = td.metadata?.relations ?? {};
      for (const [name, raw] of Object.entries(td.relations ?? {})) {
        if (!isValidName(name)) throw invalid(`type '${td.type}': invalid relation name '${name}'`);
        let rewrite: Userset;
        try {
          rewrite = normalizeUserset(raw);
        } catch (err) {
          throw invalid(`type '${td.type}' relation '${name}': ${(err as Error).message}`);
        }
        const refs = (metaRels[name]?.directly_related_user_types ?? []).map((r) => ({ ...r }));
        pending.push({ td, name, rewrite, refs });
        this.types.get(td.type)!.set(name, { type: td.type, name, rewrite, directTypes: refs, allowed: new Set() });
      }
    }
    for (const p of pending) this.validateRelation(p.td.type, p.name, p.rewrite, p.refs);
    for (const p of pending) this.rejectTrivialCycle(p.td.type, p.name);
  }

  private checkParamType(cond: string, param: string, ref: ConditionParamTypeRef): void {
    if (!ref || !KNOWN_PARAM_TYPES.has(ref.type_name)) {
      throw invalid(`condition '${cond}' parameter '${param}': unknown type '${String(ref?.type_name)}'`);
    }
    for (const g of ref.generic_types ?? []) this.checkParamType(cond, param, g);
  }

  private validateRelation(type: string, name: string, rewrite: Userset, refs: RelationReference[]): void {
    const where = `type '${type}' relation '${name}'`;
    const direct = hasThis(rewrite);
    if (direct && refs.length === 0) throw invalid(`${where}: a directly assignable relation needs type restrictions`);
    if (!direct && refs.length > 0) throw invalid(`${where}: type restrictions given but the relation is not directly assignable`);
    const allowed = this.relation(type, name)!.allowed as Set<string>;
    for (const r of refs) {
      if (!r || typeof r.type !== 'string' || !this.types.has(r.type)) throw invalid(`${where}: unknown type '${String(r?.type)}' in type restrictions`);
      const wildcard = r.wildcard !== undefined && r.wildcard !== null;
      if (wildcard && r.relation) throw invalid(`${where}: '${r.type}:*' cannot also name a relation`);
      if (r.relation && !this.relation(r.type, r.relation)) throw invalid(`${where}: unknown relation '${r.type}#${r.relation}' in type restrictions`);
      if (r.condition && !this.conditions.has(r.condition)) throw invalid(`${where}: unknown condition '${r.condition}'`);
      allowed.add(`${refKey(r.type, wildcard, r.relation || undefined)}|${r.condition ?? ''}`);
    }
    this.validateRewrite(type, where, rewrite);
  }

  private validateRewrite(type: string, where: string, u: Userset): void {
    if (u.computedUserset) {
      const rel = u.computedUserset.relation ?? '';
      if (!this.relation(type, rel)) throw invalid(`${where}: relation '${rel}' does not exist on type '${type}'`);
    } else if (u.tupleToUserset) {
      const ts = u.tupleToUserset.tupleset.relation ?? '';
      const cs = u.tupleToUserset.computedUserset.relation ?? '';
      const tupleset = this.relation(type, ts);
      if (!tupleset) throw invalid(`${where}: tupleset relation '${ts}' does not exist on type '${type}'`);
      if (!tupleset.rewrite.this) throw invalid(`${where}: tupleset relation '${type}#${ts}' must be directly assignable only`);
      if (tupleset.directTypes.some((r) => r.relation)) throw invalid(`${where}: tupleset relation '${type}#${ts}' cannot allow usersets`);
      if (!tupleset.directTypes.some((r) => this.relation(r.type, cs))) {
        throw invalid(`${where}: relation '${cs}' is not defined on any type allowed in '${type}#${ts}'`);
      }
    } else if (u.union) {
      for (const c of u.union.child) this.validateRewrite(type, where, c);
    } else if (u.intersection) {
      for (const c of u.intersection.child) this.validateRewrite(type, where, c);
    } else if (u.difference) {
      this.validateRewrite(type, where, u.difference.base);
      this.validateRewrite(type, where, u.difference.subtract);
    }
  }

  // `define a: b` + `define b: a` can never resolve; OpenFGA rejects such models.
  private rejectTrivialCycle(type: string, name: string): void {
    const seen = new Set<string>([name]);
    let cur = this.relation(type, name)!.rewrite;
    while (cur.computedUserset) {
      const next = cur.computedUserset.relation!;
      if (seen.has(next)) throw invalid(`type '${type}' relation '${name}': the relation is defined only in terms of itself`);
      seen.add(next);
      cur = this.relation(type, next)!.rewrite;
    }
  }
}
