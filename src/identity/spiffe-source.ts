// Workload identity: a SPIFFE id from the mTLS peer (Envoy's
// `source.principal`, the URI SAN of the client certificate) or, when the
// operator says a trusted proxy sets it (`xfcc: true`), from the
// x-forwarded-client-cert header. XFCC wins when enabled and present: the
// peer is then that proxy, not the client.
import type { IdentityResult } from '../decision/interfaces.js';
import type { Principal } from '../decision/types.js';
import { headerOccurrences } from './header-occurrences.js';
import { IdentityReason } from './reasons.js';
import { identified, invalid } from './results.js';
import type { IdentitySource } from './source.js';
import { parseSpiffeId } from './spiffe-id.js';
import { nearestClientUris } from './xfcc.js';

const XFCC = 'x-forwarded-client-cert';
/** Workloads are few; their resolved ids are kept so the hot path parses nothing. */
const MAX_REMEMBERED_IDS = 1024;

export interface SpiffeOptions {
  readonly trustDomains: readonly string[];
  readonly xfcc: boolean;
  readonly tenantFrom: 'namespace' | 'none';
  readonly roles: readonly string[];
}

export function spiffeSource(opts: SpiffeOptions): IdentitySource {
  const resolve = spiffeResolver(opts);
  return (req) => {
    if (opts.xfcc) {
      const xfcc = req.headers[XFCC];
      if (xfcc !== undefined && xfcc !== '') {
        if (headerOccurrences(req, XFCC) > 1) return invalid(IdentityReason.ambiguousCredentials, `${XFCC} sent twice`);
        const uris = nearestClientUris(xfcc);
        if (uris === undefined) return invalid(IdentityReason.badSpiffeId, `unreadable ${XFCC}`);
        // An X.509-SVID carries exactly one URI SAN.
        if (uris.length !== 1) return invalid(IdentityReason.badSpiffeId, `client certificate has ${uris.length} URI SANs`);
        return resolve(uris[0]!);
      }
    }
    const peer = req.source.principal;
    if (peer === undefined || peer === '') return undefined;
    return resolve(peer);
  };
}

function spiffeResolver(opts: SpiffeOptions): (id: string) => IdentityResult {
  const trusted = new Set(opts.trustDomains);
  const roles = Object.freeze([...opts.roles]);
  const remembered = new Map<string, IdentityResult>();
  return (id) => {
    let result = remembered.get(id);
    if (result !== undefined) return result;
    const parsed = parseSpiffeId(id);
    if (!parsed.ok) {
      result = invalid(IdentityReason.badSpiffeId, parsed.problem);
    } else if (trusted.size > 0 && !trusted.has(parsed.value.trustDomain)) {
      result = invalid(IdentityReason.badSpiffeId, 'trust domain not trusted');
    } else {
      const { trustDomain, path, segments } = parsed.value;
      const tenant = opts.tenantFrom === 'namespace' && segments[0] === 'ns' ? segments[1] : undefined;
      const principal: Principal = Object.freeze({
        id,
        kind: 'workload',
        tenant,
        roles,
        claims: Object.freeze({ spiffe_id: id, trust_domain: trustDomain, path }),
        source: 'spiffe',
      });
      result = identified(principal);
    }
    if (remembered.size >= MAX_REMEMBERED_IDS) remembered.clear();
    remembered.set(id, result);
    return result;
  };
}
