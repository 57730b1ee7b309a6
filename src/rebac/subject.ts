// Who the principal is in OpenFGA's terms: `user:<sub>` for people and
// `<workload_type>:<id>` for SPIFFE workloads.
//
// OpenFGA ids may hold anything but whitespace and '#' (the userset
// separator), and a user string is at most 512 bytes. So that distinct
// principals can never map to the same OpenFGA user, the id is escaped
// injectively: '%' itself, '#' and whitespace become %XX (percent-encoding of
// their UTF-8 bytes); everything else is kept. An id that would still be too
// long is replaced by `sha256-<64 hex>` of the original. SPIFFE ids only use
// [A-Za-z0-9._-/:] so they are never escaped, only possibly hashed.
import { createHash } from 'node:crypto';
import type { Principal } from '../decision/types.js';
import type { SubjectConfig } from './config.js';

const MAX_USER_BYTES = 512;
/** OpenFGA's limit on an object string (`type:id`). */
export const MAX_OBJECT_BYTES = 256;
const NEEDS_ESCAPE = /[%#\s]/u;
const ESCAPED = /[%#\s]/gu;

export function escapeFgaId(id: string, prefixBytes: number, maxBytes = MAX_USER_BYTES): string {
  const escaped = NEEDS_ESCAPE.test(id)
    ? id.replace(ESCAPED, (c) => [...Buffer.from(c, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''))
    : id;
  if (escaped !== '' && escaped !== '*' && prefixBytes + Buffer.byteLength(escaped) <= maxBytes) return escaped;
  return `sha256-${createHash('sha256').update(id, 'utf8').digest('hex')}`;
}

/** Maps a principal to its OpenFGA user string; undefined for anonymous callers. */
export class SubjectMapper {
  private readonly memo = new Map<string, string>();
  /** By principal object: a verified token's principal is one frozen object reused while the token is cached. */
  private readonly byPrincipal = new WeakMap<Principal, string>();

  constructor(private readonly config: SubjectConfig) {}

  /** The OpenFGA type of people (`user` unless configured). */
  get userType(): string {
    return this.config.user_type;
  }

  userFor(principal: Principal): string | undefined {
    if (principal.kind === 'anonymous' || principal.id === '') return undefined;
    const known = this.byPrincipal.get(principal);
    if (known !== undefined) return known;
    const user = this.userOf(principal);
    // Only a frozen principal cannot change its id or kind after it was mapped.
    if (Object.isFrozen(principal)) this.byPrincipal.set(principal, user);
    return user;
  }

  private userOf(principal: Principal): string {
    const memoKey = principal.kind === 'user' ? `u${principal.id}` : `w${principal.id}`;
    const cached = this.memo.get(memoKey);
    if (cached !== undefined) return cached;
    const type = principal.kind === 'user' ? this.config.user_type : this.config.workload_type;
    const rawId = principal.kind === 'user' ? principal.id : this.workloadId(principal.id);
    const user = `${type}:${escapeFgaId(rawId, type.length + 1)}`;
    // Principals repeat; a bounded memo saves the escape scan on the hot path.
    if (this.memo.size >= 10_000) this.memo.clear();
    this.memo.set(memoKey, user);
    return user;
  }

  private workloadId(spiffeId: string): string {
    const mode = this.config.workload_id;
    if (mode === 'spiffe_id' || !spiffeId.startsWith('spiffe://')) return spiffeId;
    const rest = spiffeId.slice('spiffe://'.length);
    if (mode === 'trust_domain_path') return rest;
    const slash = rest.indexOf('/');
    return slash < 0 ? rest : rest.slice(slash + 1);
  }
}
