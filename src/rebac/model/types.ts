// The authorization model as OpenFGA's API carries it (JSON, schema 1.1).
// Field names follow the wire format: the rewrite nodes use the proto's
// json_name (computedUserset, tupleToUserset) while metadata keeps snake_case.

export interface ObjectRelation {
  object?: string;
  relation?: string;
}

export interface Userset {
  this?: Record<string, never> | object;
  computedUserset?: ObjectRelation;
  tupleToUserset?: { tupleset: ObjectRelation; computedUserset: ObjectRelation };
  union?: { child: Userset[] };
  intersection?: { child: Userset[] };
  difference?: { base: Userset; subtract: Userset };
}

export interface RelationReference {
  type: string;
  relation?: string;
  wildcard?: object;
  condition?: string;
}

export interface RelationMetadata {
  directly_related_user_types?: RelationReference[];
  module?: string;
  source_info?: unknown;
}

export interface TypeDefinition {
  type: string;
  relations?: Record<string, Userset>;
  metadata?: { relations?: Record<string, RelationMetadata> | null; module?: string; source_info?: unknown } | null;
}

export type ConditionTypeName =
  | 'TYPE_NAME_UNSPECIFIED'
  | 'TYPE_NAME_ANY'
  | 'TYPE_NAME_BOOL'
  | 'TYPE_NAME_STRING'
  | 'TYPE_NAME_INT'
  | 'TYPE_NAME_UINT'
  | 'TYPE_NAME_DOUBLE'
  | 'TYPE_NAME_DURATION'
  | 'TYPE_NAME_TIMESTAMP'
  | 'TYPE_NAME_MAP'
  | 'TYPE_NAME_LIST'
  | 'TYPE_NAME_IPADDRESS';

export interface ConditionParamTypeRef {
  type_name: ConditionTypeName;
  generic_types?: ConditionParamTypeRef[];
}

export interface Condition {
  name: string;
  expression: string;
  parameters?: Record<string, ConditionParamTypeRef>;
  metadata?: unknown;
}

export interface AuthorizationModel {
  id?: string;
  schema_version: string;
  type_definitions: TypeDefinition[];
  conditions?: Record<string, Condition>;
}

/** A relationship tuple as written: user, relation, object and an optional condition. */
export interface TupleKey {
  user: string;
  relation: string;
  object: string;
  condition?: { name: string; context?: Record<string, unknown> };
}
