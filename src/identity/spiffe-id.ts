// SPIFFE ID syntax (SPIFFE-ID spec, §2): `spiffe://<trust-domain><path>`.
// The trust domain is lower-case letters, digits, '.', '-', '_' — which rules
// out a port, userinfo and upper case. The path is '/'-separated segments of
// letters, digits, '.', '-', '_', none empty, '.' or '..' — which rules out a
// trailing slash, percent-encoding, a query and a fragment. A workload's id
// has a path (a bare trust domain id names no workload).

const MAX_SPIFFE_ID_LENGTH = 2048;
const SCHEME = 'spiffe://';
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const SEGMENT = /^[A-Za-z0-9._-]+$/;

export interface SpiffeId {
  readonly id: string;
  readonly trustDomain: string;
  /** Starts with '/'. */
  readonly path: string;
  readonly segments: readonly string[];
}

export type SpiffeIdParse = { readonly ok: true; readonly value: SpiffeId } | { readonly ok: false; readonly problem: string };

export function parseSpiffeId(id: string): SpiffeIdParse {
  if (id.length > MAX_SPIFFE_ID_LENGTH) return fail('longer than 2048 bytes');
  if (!id.startsWith(SCHEME)) return fail('scheme is not spiffe://');
  const rest = id.slice(SCHEME.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash < 0 ? rest : rest.slice(0, slash);
  if (!TRUST_DOMAIN.test(trustDomain)) return fail('invalid trust domain');
  if (slash < 0) return fail('no workload path');
  const path = rest.slice(slash);
  const segments = path.slice(1).split('/');
  for (const segment of segments) {
    if (segment === '' || segment === '.' || segment === '..' || !SEGMENT.test(segment)) {
      return fail('invalid path segment');
    }
  }
  return { ok: true, value: { id, trustDomain, path, segments } };
}

function fail(problem: string): SpiffeIdParse {
  return { ok: false, problem };
}
