// Parsing of OpenFGA object and user strings. Objects are `type:id`; users are
// `type:id`, a public wildcard `type:*`, or a userset `type:id#relation`.

export interface ParsedObject {
  readonly type: string;
  readonly id: string;
}

export interface ParsedUser {
  readonly type: string;
  readonly id: string;
  /** Set for a userset (`group:eng#member`). */
  readonly relation: string | undefined;
  readonly wildcard: boolean;
}

// Type and relation names: no separators and no whitespace (OpenFGA's patterns).
const NAME = /^[^:#@\s]{1,254}$/;
const ID = /^[^#\s]+$/;

export function isValidName(s: string): boolean {
  return NAME.test(s);
}

export function parseObject(s: unknown): ParsedObject | undefined {
  if (typeof s !== 'string' || s.length > 256) return undefined;
  const colon = s.indexOf(':');
  if (colon <= 0) return undefined;
  const type = s.slice(0, colon);
  const id = s.slice(colon + 1);
  if (!NAME.test(type) || !ID.test(id) || id === '*') return undefined;
  return { type, id };
}

export function parseUser(s: unknown): ParsedUser | undefined {
  if (typeof s !== 'string' || s.length > 512) return undefined;
  const colon = s.indexOf(':');
  if (colon <= 0) return undefined;
  const type = s.slice(0, colon);
  if (!NAME.test(type)) return undefined;
  const rest = s.slice(colon + 1);
  const hash = rest.indexOf('#');
  if (hash === -1) {
    if (rest === '*') return { type, id: '*', relation: undefined, wildcard: true };
    if (!ID.test(rest)) return undefined;
    return { type, id: rest, relation: undefined, wildcard: false };
  }
  const id = rest.slice(0, hash);
  const relation = rest.slice(hash + 1);
  if (!ID.test(id) || id === '*' || !NAME.test(relation)) return undefined;
  return { type, id, relation, wildcard: false };
}

export function tupleKeyString(t: { user: string; relation: string; object: string }): string {
  return `${t.object}#${t.relation}@${t.user}`;
}
