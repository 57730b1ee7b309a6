// Splitting an HTTP request-target (`/path?query#fragment`, or the absolute
// form a client sends to a proxy) into the path to normalize and the query.

export interface RequestTarget {
  /** The path as received, without query or fragment; not yet normalized. */
  readonly path: string;
  /** The query string without '?', or '' when there is none. */
  readonly query: string;
}

const ABSOLUTE_FORM = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

export function splitRequestTarget(target: string): RequestTarget {
  let rest = target;
  const scheme = ABSOLUTE_FORM.exec(rest);
  if (scheme !== null) {
    const slash = rest.indexOf('/', scheme[0].length);
    const question = rest.indexOf('?', scheme[0].length);
    if (slash === -1 || (question !== -1 && question < slash)) {
      rest = '/' + (question === -1 ? '' : rest.slice(question));
    } else {
      rest = rest.slice(slash);
    }
  }
  const hash = rest.indexOf('#');
  if (hash !== -1) rest = rest.slice(0, hash);
  const q = rest.indexOf('?');
  return q === -1 ? { path: rest, query: '' } : { path: rest.slice(0, q), query: rest.slice(q + 1) };
}

/**
 * Parse a query string. A name given twice keeps its FIRST value: policies
 * read `query` as a flat map, and the first value is what most frameworks
 * (Express's `req.query` aside) hand the service for a scalar parameter.
 * Values are decoded as application/x-www-form-urlencoded (`+` is a space);
 * invalid escapes are kept as written. No prototype, so `__proto__=x` is data.
 */
export function parseQuery(query: string): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  if (query === '') return out;
  for (const [name, value] of new URLSearchParams(query)) {
    if (!(name in out)) out[name] = value;
  }
  return out;
}

/**
 * Node decodes the request-target's bytes as latin1, so a raw non-ASCII byte
 * arrives as one char in U+0080..U+00FF. Re-escape those bytes so the
 * normalizer sees the bytes the client sent (and rejects them if they are not
 * UTF-8) instead of re-encoding latin1 characters as UTF-8.
 */
export function escapeLatin1Bytes(path: string): string {
  let needs = false;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c >= 0x80 && c <= 0xff) {
      needs = true;
      break;
    }
  }
  if (!needs) return path;
  let out = '';
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    out += c >= 0x80 && c <= 0xff ? '%' + c.toString(16).toUpperCase() : path[i]!;
  }
  return out;
}
