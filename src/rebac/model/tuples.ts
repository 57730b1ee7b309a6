// Relationship tuples: reading them from YAML/JSON files and validating each
// against a model the way OpenFGA validates a Write (or a contextual tuple).
import { parse as parseYaml } from 'yaml';
import { FgaCheckError } from './errors.js';
import { convertParam, ParamConversionError } from './condition-params.js';
import { parseObject, parseUser, tupleKeyString } from './tuple-key.js';
import { parseSimpleTupleYaml } from './tuples-fast.js';
import type { TypeSystem } from './typesystem.js';
import type { TupleKey } from './types.js';

/** Upper bound on tuples read from one file; a bigger file is a mistake, not data. */
export const DEFAULT_MAX_FILE_TUPLES = 1_000_000;

function describe(t: unknown): string {
  if (t && typeof t === 'object') {
    const o = t as Record<string, unknown>;
    return `${String(o.object)}#${String(o.relation)}@${String(o.user)}`;
  }
  return JSON.stringify(t) ?? String(t);
}

/** Structural checks only: three strings and an optional {name, context}. */
export function normalizeTupleKey(raw: unknown, where: string, code = 'validation_error'): TupleKey {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new FgaCheckError(code, `${where}: a tuple must be an object with user, relation and object`);
  const r = raw as Record<string, unknown>;
  for (const f of ['user', 'relation', 'object'] as const) {
    if (typeof r[f] !== 'string' || r[f] === '') throw new FgaCheckError(code, `${where}: tuple '${describe(raw)}' is missing '${f}'`);
  }
  const t: TupleKey = { user: r.user as string, relation: r.relation as string, object: r.object as string };
  if (r.condition !== undefined && r.condition !== null) {
    const c = r.condition as Record<string, unknown>;
    if (typeof c !== 'object' || typeof c.name !== 'string' || c.name === '') {
      throw new FgaCheckError(code, `${where}: tuple '${describe(raw)}' has a condition without a name`);
    }
    const ctx = c.context;
    if (ctx !== undefined && ctx !== null && (typeof ctx !== 'object' || Array.isArray(ctx))) {
      throw new FgaCheckError(code, `${where}: tuple '${describe(raw)}' condition context must be an object`);
    }
    t.condition = { name: c.name, ...(ctx ? { context: ctx as Record<string, unknown> } : {}) };
  }
  return t;
}

/** OpenFGA's write-time validation of one tuple against a model; throws FgaCheckError(code). */
export function validateTupleForModel(ts: TypeSystem, t: TupleKey, code = 'validation_error', where = ''): void {
  const prefix = `${where ? `${where}: ` : ''}invalid tuple '${tupleKeyString(t)}'`;
  const obj = parseObject(t.object);
  if (!obj) throw new FgaCheckError(code, `${prefix}: object must be 'type:id'`);
  const user = parseUser(t.user);
  if (!user) throw new FgaCheckError(code, `${prefix}: user must be 'type:id', 'type:*' or 'type:id#relation'`);
  if (!ts.hasType(obj.type)) throw new FgaCheckError(code, `${prefix}: type '${obj.type}' not found`);
  const rel = ts.relation(obj.type, t.relation);
  if (!rel) throw new FgaCheckError(code, `${prefix}: relation '${obj.type}#${t.relation}' not found`);
  if (!ts.hasType(user.type)) throw new FgaCheckError(code, `${prefix}: type '${user.type}' not found`);
  if (user.relation && !ts.relation(user.type, user.relation)) {
    throw new FgaCheckError(code, `${prefix}: relation '${user.type}#${user.relation}' not found`);
  }
  const condName = t.condition?.name;
  if (condName !== undefined && !ts.conditions.has(condName)) throw new FgaCheckError(code, `${prefix}: condition '${condName}' is not defined`);
  if (!ts.isAllowed(rel, user, condName)) {
    const shown = user.wildcard ? `${user.type}:*` : user.relation ? `${user.type}#${user.relation}` : user.type;
    throw new FgaCheckError(code, `${prefix}: type '${shown}'${condName ? ` with condition '${condName}'` : ''} is not an allowed type restriction for '${obj.type}#${t.relation}'`);
  }
  if (condName !== undefined && t.condition?.context) {
    const cond = ts.conditions.get(condName)!;
    for (const [k, v] of Object.entries(t.condition.context)) {
      const ref = cond.parameters.get(k);
      if (!ref) throw new FgaCheckError(code, `${prefix}: condition '${condName}' has no parameter '${k}'`);
      try {
        convertParam(ref, v);
      } catch (err) {
        throw new FgaCheckError(code, `${prefix}: context parameter '${k}': ${err instanceof ParamConversionError ? err.message : String(err)}`);
      }
    }
  }
}

/** Parses a tuples file: a YAML/JSON list, or an object with a `tuples` list. */
export function parseTuplesText(text: string, source = 'tuples', maxTuples = DEFAULT_MAX_FILE_TUPLES): TupleKey[] {
  let doc: unknown;
  const trimmed = text.trimStart();
  try {
    if (trimmed.startsWith('[') || trimmed.startsWith('{')) doc = JSON.parse(text);
    else doc = parseSimpleTupleYaml(text) ?? parseYaml(text, { maxAliasCount: 100 });
  } catch (err) {
    if (trimmed.startsWith('[') || trimmed.startsWith('{')) {
      try {
        doc = parseYaml(text, { maxAliasCount: 100 });
      } catch {
        throw new FgaCheckError('validation_error', `${source}: does not parse as JSON or YAML: ${(err as Error).message}`);
      }
    } else {
      throw new FgaCheckError('validation_error', `${source}: does not parse as YAML: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  if (doc === null || doc === undefined) return [];
  const list = Array.isArray(doc) ? doc : (doc as Record<string, unknown>).tuples;
  if (!Array.isArray(list)) throw new FgaCheckError('validation_error', `${source}: expected a list of tuples (or an object with a 'tuples' list)`);
  if (list.length > maxTuples) throw new FgaCheckError('exceeded_entity_limit', `${source}: ${list.length} tuples exceed the limit of ${maxTuples}`);
  return list.map((raw, i) => normalizeTupleKey(raw, `${source}: tuple #${i + 1}`));
}
