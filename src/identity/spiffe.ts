// SPIFFE workload identity: validation of a SPIFFE ID, and the caller's id
// from Envoy's x-forwarded-client-cert header.
import type { Principal } from '../decision/types.js';

const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const PATH_SEGMENT = /^[A-Za-z0-9._-]+$/;

export interface SpiffeId {
  readonly id: string;
  readonly trustDomain: string;
  readonly segments: readonly string[];
}

/** Parses a SPIFFE ID per the SPIFFE-ID spec; undefined when invalid. */
export function parseSpiffeId(value: string): SpiffeId | undefined {
  if (value.length > 2048 || !value.startsWith('spiffe://')) return undefined;
  const rest = value.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash < 0 ? rest : rest.slice(0, slash);
  // Lower-case letters, digits, '.', '-', '_' only: no port, userinfo, query or fragment.
  if (trustDomain === '' || !TRUST_DOMAIN.test(trustDomain)) return undefined;
  if (slash < 0) return { id: value, trustDomain, segments: [] };
  const segments = rest.slice(slash + 1).split('/');
  for (const s of segments) {
    if (s === '' || s === '.' || s === '..' || !PATH_SEGMENT.test(s)) return undefined;
  }
  return { id: value, trustDomain, segments };
}

/**
 * The client's URI SAN from x-forwarded-client-cert. Elements are separated by
 * ',' and each is `key=value` pairs separated by ';' (values may be quoted).
 * Envoy appends its own element for the client it talked to, so with
 * APPEND_FORWARD the last element is the nearest, most trusted hop; with
 * SANITIZE_SET there is only one. Only enable `xfcc` when Envoy sanitizes it.
 */
export function uriFromXfcc(header: string): string | undefined {
  const elements = splitOutsideQuotes(header, ',');
  const last = elements[elements.length - 1];
  if (last === undefined) return undefined;
  for (const pair of splitOutsideQuotes(last, ';')) {
    const eq = pair.indexOf('=');
    if (eq < 0) continue;
    if (pair.slice(0, eq).trim().toLowerCase() !== 'uri') continue;
    let value = pair.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1).replace(/\\"/g, '"');
    return value;
  }
  return undefined;
}

function splitOutsideQuotes(text: string, sep: string): string[] {
  const out: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\' && quoted) {
      i++;
      continue;
    }
    if (c === '"') quoted = !quoted;
    else if (c === sep && !quoted) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  out.push(text.slice(start));
  return out.filter((s) => s.trim() !== '');
}

export function workloadPrincipal(id: SpiffeId, tenantFrom: 'namespace' | 'none', roles: readonly string[]): Principal {
  let tenant: string | undefined;
  if (tenantFrom === 'namespace') {
    const ns = id.segments.indexOf('ns');
    if (ns >= 0) tenant = id.segments[ns + 1];
  }
  return Object.freeze({
    id: id.id,
    kind: 'workload' as const,
    tenant,
    roles: Object.freeze([...roles]),
    claims: Object.freeze({ spiffe_id: id.id, trust_domain: id.trustDomain }),
    source: 'spiffe' as const,
  });
}
