// Contextual tuples from the token: a route names claims whose values become
// OpenFGA contextual tuples for its checks, so relationships the identity
// provider already knows (group membership, say) need not be written to the
// store:
//   contextual_tuples: [ { claim: groups, relation: member, type: group } ]
//   → for each value v of the `groups` claim: user:<sub> member group:<v>
//
// At load the rule is checked against the model: `type` must exist, have
// `relation`, and accept the principal's user type directly ([user]) —
// otherwise every check would fail at OpenFGA. Per request the claim must be
// a list of strings (absent = no tuples) of at most `max` distinct values;
// anything else denies rebac_bad_request with the reason. Values are escaped
// injectively as user ids are (subject.ts), so two different values never
// name the same object. The tuples' key (for the decision cache) is built
// once per request.
import { StageFailure } from '../../decision/stage-failure.js';
import type { Principal } from '../../decision/types.js';
import { readClaim } from '../../identity/claims.js';
import type { AuthorizationModel, TupleKey } from '../model/types.js';
import { REBAC_BAD_REQUEST } from '../reasons.js';
import { escapeFgaId, MAX_OBJECT_BYTES } from '../subject.js';

export interface ClaimTupleRule {
  readonly claim: string;
  readonly relation: string;
  readonly type: string;
  readonly max: number;
}

/** OpenFGA's own limit on contextual tuples per check. */
export const MAX_CONTEXTUAL_TUPLES = 100;

export interface BuiltTuples {
  readonly tuples: readonly TupleKey[];
  /** Equal tuples, equal keys; distinct tuples, distinct keys (JSON of the list). */
  readonly key: string;
}

const NONE: BuiltTuples = Object.freeze({ tuples: Object.freeze([]), key: '' });

export class ClaimTuples {
  constructor(private readonly rules: readonly ClaimTupleRule[]) {}

  /** Throws an Error naming the rule when the model cannot hold such tuples. */
  validate(model: AuthorizationModel, userType: string): void {
    for (const [i, r] of this.rules.entries()) {
      const where = `contextual_tuples[${i}] (${r.claim} → ${userType} ${r.relation} ${r.type}:<value>)`;
      const td = model.type_definitions.find((t) => t.type === r.type);
      if (td === undefined) throw new Error(`${where}: the model has no type '${r.type}'`);
      if (td.relations?.[r.relation] === undefined) throw new Error(`${where}: type '${r.type}' has no relation '${r.relation}'`);
      const direct = td.metadata?.relations?.[r.relation]?.directly_related_user_types ?? [];
      if (!direct.some((ref) => ref.type === userType && ref.relation === undefined && ref.wildcard === undefined)) {
        throw new Error(`${where}: relation '${r.type}#${r.relation}' does not accept '${userType}' directly (it needs [${userType}])`);
      }
    }
  }

  /** The tuples for this principal (mapped to `user`); throws StageFailure rebac_bad_request on a bad claim. */
  build(principal: Principal, user: string): BuiltTuples {
    let tuples: TupleKey[] | undefined;
    for (const r of this.rules) {
      const raw = readClaim(principal.claims, r.claim);
      if (raw === undefined) continue;
      if (!Array.isArray(raw) || !raw.every((v): v is string => typeof v === 'string')) {
        throw new StageFailure(REBAC_BAD_REQUEST, 403, `claim '${r.claim}' must be a list of strings for contextual tuples`);
      }
      // Sorted: the same groups in another order share cached decisions.
      const values = [...new Set(raw)].sort();
      if (values.length > r.max) {
        throw new StageFailure(REBAC_BAD_REQUEST, 403, `claim '${r.claim}' has ${values.length} values, more than the route's max of ${r.max}`);
      }
      tuples ??= [];
      if (tuples.length + values.length > MAX_CONTEXTUAL_TUPLES) {
        throw new StageFailure(REBAC_BAD_REQUEST, 403, `more than ${MAX_CONTEXTUAL_TUPLES} contextual tuples from claims`);
      }
      for (const v of values) {
        const object = `${r.type}:${escapeFgaId(v, r.type.length + 1, MAX_OBJECT_BYTES)}`;
        tuples.push({ user, relation: r.relation, object });
      }
    }
    return tuples === undefined || tuples.length === 0 ? NONE : { tuples, key: JSON.stringify(tuples) };
  }
}
