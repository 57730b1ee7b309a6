// The bearer token from the configured header. With the standard
// `authorization` header the `Bearer` scheme (any case) is required and any
// other scheme is refused as malformed rather than ignored: a credential we
// cannot read must not let the request fall through to a weaker source. A
// custom header may carry the token with or without the scheme.
import { headerOccurrences } from './header-occurrences.js';
import type { JwtVerifier } from './jwt-verifier.js';
import { IdentityReason } from './reasons.js';
import { invalid } from './results.js';
import type { IdentitySource } from './source.js';

export function bearerTokenSource(header: string, verifier: JwtVerifier): IdentitySource {
  const name = header.toLowerCase();
  const schemeRequired = name === 'authorization';
  return (req) => {
    const value = req.headers[name];
    if (value === undefined || value.length === 0) return undefined;
    if (headerOccurrences(req, name) > 1) return invalid(IdentityReason.ambiguousCredentials, `${name} sent twice`);
    const token = bearerToken(value, schemeRequired);
    if (token === undefined) return invalid(IdentityReason.tokenMalformed, 'not a Bearer credential');
    return verifier.verify(token);
  };
}

const BEARER = /^bearer /i;

function bearerToken(value: string, schemeRequired: boolean): string | undefined {
  if (BEARER.test(value)) {
    const token = value.slice(7).trim();
    return token.length > 0 ? token : undefined;
  }
  if (schemeRequired) return undefined;
  const token = value.trim();
  return token.length > 0 ? token : undefined;
}
