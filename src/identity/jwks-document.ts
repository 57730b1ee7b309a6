// Reads and checks a JSON Web Key Set before it replaces the one in use, so a
// half-written file or a broken endpoint response is refused as a whole and
// the last good set keeps serving. Every signing key is imported once here:
// jose would otherwise only discover a broken key on the first token that
// names it. Error messages name keys by position and kid, never by material.
import { importJWK, type JSONWebKeySet, type JWK } from 'jose';

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'] as const;

export class JwksDocumentError extends Error {
  override readonly name = 'JwksDocumentError';
}

/** @throws JwksDocumentError */
export async function parseJwksDocument(text: string): Promise<JSONWebKeySet> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new JwksDocumentError('not valid JSON');
  }
  if (doc === null || typeof doc !== 'object' || !Array.isArray((doc as { keys?: unknown }).keys)) {
    throw new JwksDocumentError('not a JWK set: no "keys" array');
  }
  const keys = (doc as { keys: unknown[] }).keys;
  let signingKeys = 0;
  for (let i = 0; i < keys.length; i++) {
    const jwk = keys[i];
    const name = describe(jwk, i);
    if (jwk === null || typeof jwk !== 'object' || Array.isArray(jwk) || typeof (jwk as JWK).kty !== 'string') {
      throw new JwksDocumentError(`${name} is not a JWK (no "kty")`);
    }
    const key = jwk as JWK;
    if (key.kid !== undefined && typeof key.kid !== 'string') throw new JwksDocumentError(`${name} has a non-string "kid"`);
    if (PRIVATE_MEMBERS.some((m) => Object.hasOwn(key, m))) {
      throw new JwksDocumentError(`${name} holds private or secret key material; a JWKS publishes public keys only`);
    }
    const alg = signingAlgorithm(key);
    if (alg === undefined) continue;
    try {
      await importJWK(key, alg);
    } catch {
      throw new JwksDocumentError(`${name} is not a valid ${key.kty} public key for ${alg}`);
    }
    signingKeys++;
  }
  if (signingKeys === 0) throw new JwksDocumentError('no usable signing key (RSA, EC or OKP with use "sig")');
  return doc as JSONWebKeySet;
}

/** The algorithm to import a key with, or undefined when it can never verify one of our tokens. */
export function signingAlgorithm(key: JWK): string | undefined {
  if (key.use !== undefined && key.use !== 'sig') return undefined;
  if (typeof key.alg === 'string') return /^(RS|PS|ES)(256|384|512)$|^EdDSA$|^Ed25519$/.test(key.alg) ? key.alg : undefined;
  switch (key.kty) {
    case 'RSA':
      return 'RS256';
    case 'EC':
      return key.crv === 'P-256' ? 'ES256' : key.crv === 'P-384' ? 'ES384' : key.crv === 'P-521' ? 'ES512' : undefined;
    case 'OKP':
      return key.crv === 'Ed25519' ? 'EdDSA' : undefined;
    default:
      return undefined;
  }
}

function describe(jwk: unknown, index: number): string {
  const kid = jwk !== null && typeof jwk === 'object' ? (jwk as { kid?: unknown }).kid : undefined;
  return typeof kid === 'string' ? `key #${index} (kid ${JSON.stringify(kid.slice(0, 64))})` : `key #${index}`;
}
