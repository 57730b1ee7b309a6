// Which cached decisions a tuple change can affect.
//
// A change to a tuple on object O (`O#relation@user`) changes the answer of
// checks on O itself — through direct relations, computed usersets, union,
// intersection and exclusion, all of which read O's own tuples. It can also
// change checks on *other* objects when O's type is reachable indirectly:
//   - a type restriction names a userset of O's type (`[group#member]`), or
//   - a tuple-to-userset (`admin from owner`) follows a tupleset relation
//     whose restrictions include O's type.
// Those "indirect" types are computed from the model. A change on an object
// of an indirect type evicts the whole cache (correct, if blunt: such types —
// groups, organizations, folders — change rarely compared with checks); any
// other change evicts the decisions indexed under its object (and under the
// user-side object of userset users). Without a model, every change evicts all.
import type { AuthorizationModel, Userset } from '../model/types.js';

export type InvalidationScope = { readonly kind: 'object'; readonly object: string } | { readonly kind: 'all' };

export class InvalidationRule {
  private constructor(private readonly indirectTypes: ReadonlySet<string> | undefined) {}

  /** Every change evicts everything (no model known). */
  static conservative(): InvalidationRule {
    return new InvalidationRule(undefined);
  }

  /** Schema 1.1 carries type restrictions; an older model cannot bound anything. */
  static fromModel(model: AuthorizationModel): InvalidationRule {
    if (model.schema_version !== '1.1') return InvalidationRule.conservative();
    return new InvalidationRule(indirectTypes(model));
  }

  /** The types whose changes evict everything; undefined means all types. */
  get indirect(): ReadonlySet<string> | undefined {
    return this.indirectTypes;
  }

  scopeOf(object: string): InvalidationScope {
    const colon = object.indexOf(':');
    if (this.indirectTypes === undefined || colon <= 0) return { kind: 'all' };
    return this.indirectTypes.has(object.slice(0, colon)) ? { kind: 'all' } : { kind: 'object', object };
  }
}

function indirectTypes(model: AuthorizationModel): Set<string> {
  const out = new Set<string>();
  for (const td of model.type_definitions ?? []) {
    const metadata = td.metadata?.relations ?? {};
    for (const rel of Object.values(metadata)) {
      for (const ref of rel.directly_related_user_types ?? []) if (ref.relation !== undefined && ref.relation !== '') out.add(ref.type);
    }
    for (const rewrite of Object.values(td.relations ?? {})) {
      for (const tupleset of tuplesets(rewrite)) {
        for (const ref of metadata[tupleset]?.directly_related_user_types ?? []) out.add(ref.type);
      }
    }
  }
  return out;
}

function tuplesets(u: Userset | undefined, acc: string[] = []): string[] {
  if (u === undefined) return acc;
  const ttu = u.tupleToUserset?.tupleset.relation;
  if (ttu !== undefined) acc.push(ttu);
  for (const c of u.union?.child ?? []) tuplesets(c, acc);
  for (const c of u.intersection?.child ?? []) tuplesets(c, acc);
  if (u.difference !== undefined) {
    tuplesets(u.difference.base, acc);
    tuplesets(u.difference.subtract, acc);
  }
  return acc;
}
