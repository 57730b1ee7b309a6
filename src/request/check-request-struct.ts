// google.protobuf.Struct ⇄ plain JSON. Envoy's metadata arrives as Structs;
// identity and policy want ordinary objects. Depth is bounded so a hostile
// message cannot exhaust the stack (protobufjs already stops at 100 levels
// while decoding; JSON input has no such guard).
import type { DecodedStruct, DecodedValue } from './check-request-types.js';

export const MAX_STRUCT_DEPTH = 64;

export class StructTooDeepError extends Error {
  constructor() {
    super(`metadata nested deeper than ${MAX_STRUCT_DEPTH} levels`);
  }
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export function structToJson(struct: DecodedStruct | null | undefined, depth = 0): Record<string, Json> {
  if (depth > MAX_STRUCT_DEPTH) throw new StructTooDeepError();
  // Null prototype: a key like "__proto__" or "constructor" stays plain data.
  const out: Record<string, Json> = Object.create(null) as Record<string, Json>;
  const fields = struct?.fields;
  if (fields == null) return out;
  for (const key of Object.keys(fields)) out[key] = valueToJson(fields[key], depth + 1);
  return out;
}

function valueToJson(v: DecodedValue | null | undefined, depth: number): Json {
  if (v == null) return null;
  if (v.stringValue != null) return v.stringValue;
  if (v.numberValue != null) return v.numberValue;
  if (v.boolValue != null) return v.boolValue;
  if (v.structValue != null) return structToJson(v.structValue, depth);
  if (v.listValue != null) {
    if (depth > MAX_STRUCT_DEPTH) throw new StructTooDeepError();
    const values = v.listValue.values ?? [];
    const list: Json[] = new Array<Json>(values.length);
    for (let i = 0; i < values.length; i++) list[i] = valueToJson(values[i], depth + 1);
    return list;
  }
  return null;
}

/** Plain JSON (as proto3 JSON writes a Struct) → the decoded Struct shape. */
export function jsonToStruct(json: unknown, where: string, depth = 0): DecodedStruct {
  if (depth > MAX_STRUCT_DEPTH) throw new StructTooDeepError();
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new Error(`${where}: expected a JSON object (google.protobuf.Struct)`);
  }
  const fields: Record<string, DecodedValue> = Object.create(null) as Record<string, DecodedValue>;
  for (const [key, value] of Object.entries(json)) fields[key] = jsonToValue(value, `${where}.${key}`, depth + 1);
  return { fields };
}

function jsonToValue(json: unknown, where: string, depth: number): DecodedValue {
  if (json === null) return { nullValue: 0 };
  switch (typeof json) {
    case 'string':
      return { stringValue: json };
    case 'number':
      return { numberValue: json };
    case 'boolean':
      return { boolValue: json };
    case 'object':
      if (Array.isArray(json)) {
        if (depth > MAX_STRUCT_DEPTH) throw new StructTooDeepError();
        return { listValue: { values: json.map((item, i) => jsonToValue(item, `${where}[${i}]`, depth + 1)) } };
      }
      return { structValue: jsonToStruct(json, where, depth) };
    default:
      throw new Error(`${where}: not a JSON value`);
  }
}
