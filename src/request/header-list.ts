// Headers as an AuthzRequest carries them: lower-case names, every occurrence
// kept in arrival order (so identity and tenant resolution can refuse a header
// sent twice), plus a map view with repeated values joined.

/** Total bytes of header names and values a request may carry (Envoy's own default limit is 60 KiB). */
export const MAX_HEADER_BYTES = 64 * 1024;

/**
 * Header entries a request may carry, counted as entries (an empty name
 * counts): more is `too_many_headers`, never a silent truncation. Envoy's own
 * default (max_request_headers_count) is 100.
 */
export const MAX_HEADER_COUNT = 1000;

/**
 * A header map's prototype: an empty, frozen object that itself has no
 * prototype, so no name resolves to anything but a header (no
 * `constructor`, no `__proto__` accessor, no Object.prototype methods).
 * Unlike Object.create(null), whose objects V8 keeps as hash tables (grown and
 * rehashed as headers are added: ~1 KB of garbage a request, measured), objects
 * made by `new` stay fast-property objects for the usual dozen headers, and
 * requests with the same header names share one shape.
 */
const HeaderMap = function HeaderMap() {} as unknown as new () => Record<string, string>;
HeaderMap.prototype = Object.freeze(Object.create(null) as object);

export interface CollectedHeaders {
  readonly headers: Record<string, string>;
  readonly headerList: Array<readonly [string, string]>;
  /** Bytes of all names and values, compared with MAX_HEADER_BYTES. */
  readonly bytes: number;
}

/**
 * Collect a flat header list ([name, value, name, value, ...]): Node's
 * `rawHeaders`, or the CheckRequest's headers as read off the wire.
 * Repeated headers are joined with ','; `cookie` with '; ' (how HTTP/2 says
 * split cookie headers are rejoined); `set-cookie` keeps its first value,
 * because cookie values may contain ',' — the full list is in headerList.
 * The map inherits nothing (see HeaderMap), so a header named `__proto__`
 * or `constructor` is just a header.
 */
export function collectHeaders(rawHeaders: readonly string[]): CollectedHeaders {
  const headers = new HeaderMap();
  const headerList: Array<readonly [string, string]> = [];
  let bytes = 0;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    const value = rawHeaders[i + 1]!;
    bytes += name.length + value.length;
    headerList.push([name, value]);
    const previous = headers[name];
    if (previous === undefined) headers[name] = value;
    else if (name === 'cookie') headers[name] = `${previous}; ${value}`;
    else if (name !== 'set-cookie') headers[name] = `${previous},${value}`;
  }
  return { headers, headerList, bytes };
}

/** How many times a header occurs. */
export function headerCount(headerList: ReadonlyArray<readonly [string, string]>, name: string): number {
  let n = 0;
  for (let i = 0; i < headerList.length; i++) if (headerList[i]![0] === name) n++;
  return n;
}

/** The first occurrence of a header, or undefined. */
export function firstHeader(headerList: ReadonlyArray<readonly [string, string]>, name: string): string | undefined {
  for (let i = 0; i < headerList.length; i++) if (headerList[i]![0] === name) return headerList[i]![1];
  return undefined;
}
