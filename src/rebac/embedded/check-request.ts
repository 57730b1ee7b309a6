// Validation of a Check request against a model, with OpenFGA's error codes:
// a bad tuple_key is a validation_error (2000); a bad contextual tuple is an
// invalid_tuple (2027).
import { FgaCheckError, validationError } from '../model/errors.js';
import { isValidName, parseObject, parseUser } from '../model/tuple-key.js';
import type { ParsedObject, ParsedUser } from '../model/tuple-key.js';
import { normalizeTupleKey, validateTupleForModel } from '../model/tuples.js';
import type { TypeSystem } from '../model/typesystem.js';
import type { TupleKey } from '../model/types.js';

export interface CheckRequestTuple {
  user: string;
  relation: string;
  object: string;
}

export interface EmbeddedCheckRequest {
  tuple_key: CheckRequestTuple;
  contextual_tuples?: TupleKey[];
  context?: Record<string, unknown>;
  authorization_model_id?: string;
}

export const MAX_CONTEXTUAL_TUPLES = 100;

export interface ValidatedCheck {
  readonly object: ParsedObject;
  readonly relation: string;
  readonly user: ParsedUser;
  readonly userStr: string;
  readonly contextual: TupleKey[];
  readonly context: Record<string, unknown> | undefined;
}

export function validateCheckRequest(ts: TypeSystem, req: EmbeddedCheckRequest): ValidatedCheck {
  if (!req || typeof req !== 'object') throw validationError('the request must be an object');
  const tk = req.tuple_key as unknown as Record<string, unknown> | undefined;
  if (!tk || typeof tk !== 'object') throw validationError('tuple_key is required');
  const { user: userStr, relation, object: objectStr } = tk;
  if (typeof objectStr !== 'string' || objectStr === '') throw validationError("invalid 'object' field: value is required");
  if (typeof relation !== 'string' || !isValidName(relation)) throw validationError(`invalid 'relation' field: '${String(relation)}'`);
  if (typeof userStr !== 'string' || userStr === '') throw validationError("invalid 'user' field: value is required");
  const object = parseObject(objectStr);
  if (!object) throw validationError(`invalid 'object' field format: '${objectStr}' (expected 'type:id')`);
  const user = parseUser(userStr);
  if (!user) throw validationError(`invalid 'user' field format: '${userStr}' (expected 'type:id', 'type:*' or 'type:id#relation')`);
  if (!ts.hasType(object.type)) throw validationError(`type '${object.type}' not found`);
  if (!ts.relation(object.type, relation)) throw validationError(`relation '${object.type}#${relation}' not found`);
  if (!ts.hasType(user.type)) throw validationError(`type '${user.type}' not found`);
  if (user.relation && !ts.relation(user.type, user.relation)) throw validationError(`relation '${user.type}#${user.relation}' not found`);

  const context = req.context;
  if (context !== undefined && context !== null && (typeof context !== 'object' || Array.isArray(context))) {
    throw validationError('context must be an object');
  }
  const rawContextual = req.contextual_tuples ?? [];
  if (!Array.isArray(rawContextual)) throw validationError('contextual_tuples must be a list');
  if (rawContextual.length > MAX_CONTEXTUAL_TUPLES) {
    throw validationError(`at most ${MAX_CONTEXTUAL_TUPLES} contextual tuples are allowed, got ${rawContextual.length}`);
  }
  const contextual = rawContextual.map((raw, i) => {
    const t = normalizeTupleKey(raw, `contextual tuple #${i + 1}`, 'invalid_tuple');
    validateTupleForModel(ts, t, 'invalid_tuple');
    return t;
  });
  return { object, relation, user, userStr, contextual, context: (context ?? undefined) as Record<string, unknown> | undefined };
}

export { FgaCheckError };
