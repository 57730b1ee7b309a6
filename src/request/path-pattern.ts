// A route's path pattern: literal segments, `:name` parameters (exactly one
// non-empty segment each) and an optional trailing `*` that takes the rest.
// Patterns are compiled once into parallel arrays so matching a request is a
// loop of string compares with no allocation until a match is found.
import { normalizePath } from './normalize-path.js';

/** The parameter name under which a trailing `*` exposes the rest of the path. */
export const REST_PARAM = '*';

const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Names that would write an object's prototype instead of a property. */
const FORBIDDEN_NAMES = new Set(['__proto__', 'constructor', 'prototype']);
const NO_PARAMS: Readonly<Record<string, string>> = Object.freeze({});

export interface PathPattern {
  readonly source: string;
  /** Per segment: the literal it must equal, or undefined for a parameter. */
  readonly literals: readonly (string | undefined)[];
  /** Per segment: the parameter name, or undefined for a literal. */
  readonly names: readonly (string | undefined)[];
  /** A trailing `*` matches the remaining segments (zero or more). */
  readonly rest: boolean;
  /** Every parameter the pattern declares, `*` included when `rest`. */
  readonly params: ReadonlySet<string>;
}

/** Compile a pattern; throws an Error saying what is wrong with it. */
export function compilePattern(source: string): PathPattern {
  const fail = (why: string): never => {
    throw new Error(`path pattern "${source}": ${why}`);
  };
  if (!source.startsWith('/')) fail('must start with "/"');
  const parts = source === '/' ? [] : source.slice(1).split('/');
  const literals: (string | undefined)[] = [];
  const names: (string | undefined)[] = [];
  const params = new Set<string>();
  let rest = false;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (part === '') {
      fail(i === parts.length - 1
        ? 'trailing "/" (a request path with or without a trailing slash matches the pattern without it)'
        : 'empty segment ("//")');
    }
    if (part === REST_PARAM) {
      if (i !== parts.length - 1) fail('"*" must be the last segment');
      rest = true;
      params.add(REST_PARAM);
    } else if (part.includes('*')) {
      fail(`segment "${part}": "*" is only allowed as a whole, final segment`);
    } else if (part.startsWith(':')) {
      const name = part.slice(1);
      if (!PARAM_NAME.test(name) || FORBIDDEN_NAMES.has(name)) {
        fail(`parameter "${part}": a name is letters, digits and "_", not starting with a digit`);
      }
      if (params.has(name)) fail(`parameter ":${name}" appears twice`);
      params.add(name);
      literals.push(undefined);
      names.push(name);
    } else {
      literals.push(literalSegment(part, fail));
      names.push(undefined);
    }
  }
  return { source, literals, names, rest, params };
}

/** A literal is compared with the normalized request path, so it is normalized the same way. */
function literalSegment(part: string, fail: (why: string) => never): string {
  if (part === '.' || part === '..') fail(`segment "${part}": dot segments never reach the matcher`);
  const normalized = normalizePath('/' + part);
  if (!normalized.ok) return fail(`segment "${part}": ${normalized.reason}`);
  const segment = normalized.path.slice(1);
  if (segment.includes('/') || segment === '') fail(`segment "${part}" is not a single path segment`);
  return segment;
}

/**
 * Split a normalized path into segments. A trailing slash is not significant:
 * `/admin/` must select the same route as `/admin`, or a stricter route could
 * be sidestepped by adding a slash that the service ignores.
 */
export function pathSegments(path: string): string[] {
  if (path === '/' || path === '') return [];
  const segments = path.charCodeAt(0) === 0x2f ? path.slice(1).split('/') : path.split('/');
  if (segments.length > 0 && segments[segments.length - 1] === '') segments.pop();
  return segments;
}

/** The parameters when the segments match, else undefined. */
export function matchPattern(
  pattern: PathPattern,
  segments: readonly string[],
): Readonly<Record<string, string>> | undefined {
  const { literals } = pattern;
  const n = literals.length;
  if (pattern.rest ? segments.length < n : segments.length !== n) return undefined;
  for (let i = 0; i < n; i++) {
    const literal = literals[i];
    const segment = segments[i]!;
    if (literal === undefined ? segment === '' : segment !== literal) return undefined;
  }
  if (pattern.params.size === 0) return NO_PARAMS;
  const params: Record<string, string> = {};
  for (let i = 0; i < n; i++) {
    const name = pattern.names[i];
    if (name !== undefined) params[name] = segments[i]!;
  }
  if (pattern.rest) params[REST_PARAM] = segments.slice(n).join('/');
  return params;
}
