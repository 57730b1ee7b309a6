// Envoy's x-forwarded-client-cert header: comma-separated elements, each a
// semicolon-separated list of Key=Value pairs; keys are case-insensitive; a
// value containing ',', ';' or '=' is double-quoted with '\"' for a quote.
//
// Each proxy that forwards the request APPENDS one element describing the
// client certificate it saw (Envoy docs, http_conn_man/headers, XFCC), so the
// LAST element was written by the proxy next to us — the only one we can
// trust, and only when that proxy sanitizes what its own client sent
// (forward_client_cert_details SANITIZE_SET, or APPEND_FORWARD behind a
// trusted hop). Earlier elements are hearsay from further away.

const MAX_XFCC_LENGTH = 64 * 1024;

export type XfccElement = ReadonlyArray<readonly [key: string, value: string]>;

/** undefined when the header is not well-formed (unterminated quote, a pair without '='...). */
export function parseXfcc(header: string): XfccElement[] | undefined {
  if (header.length > MAX_XFCC_LENGTH) return undefined;
  const elements: XfccElement[] = [];
  let pairs: Array<readonly [string, string]> = [];
  let start = 0;
  let quoted = false;
  const endPair = (end: number): boolean => {
    const raw = header.slice(start, end);
    start = end + 1;
    if (raw.trim() === '') return true;
    const eq = raw.indexOf('=');
    if (eq <= 0) return false;
    const key = raw.slice(0, eq).trim().toLowerCase();
    const value = unquote(raw.slice(eq + 1).trim());
    if (key === '' || value === undefined) return false;
    pairs.push([key, value]);
    return true;
  };
  for (let i = 0; i < header.length; i++) {
    const c = header[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') {
      quoted = true;
    } else if (c === ';' || c === ',') {
      if (!endPair(i)) return undefined;
      if (c === ',') {
        elements.push(pairs);
        pairs = [];
      }
    }
  }
  if (quoted || !endPair(header.length)) return undefined;
  elements.push(pairs);
  return elements.filter((e) => e.length > 0);
}

function unquote(value: string): string | undefined {
  if (!value.startsWith('"')) return value.includes('"') ? undefined : value;
  if (value.length < 2 || !value.endsWith('"')) return undefined;
  return value.slice(1, -1).replace(/\\(.)/g, '$1');
}

/** The URI SANs of the certificate the nearest proxy saw (its element is the last). */
export function nearestClientUris(header: string): string[] | undefined {
  const elements = parseXfcc(header);
  if (elements === undefined || elements.length === 0) return undefined;
  const nearest = elements[elements.length - 1]!;
  return nearest.filter(([key]) => key === 'uri').map(([, value]) => value);
}
