// Reads and checks a JSON Web Key Set before it replaces the one in use, so a
// half-written file or a broken endpoint response is refused as a whole and
// the last good set keeps serving. Every signing key is imported once here:
// jose would otherwise only discover a broken key on the first token that
// names it. Error messages name keys by position and kid, never by material.
//
// RSA keys whose cost is out of proportion are left out (with a reason the
// caller logs), not refused with the whole set: an exponent above 2^32 + 1 or
// a modulus above `maxRsaModulusBits` makes every signature check with that
// key expensive (a 3072-bit exponent costs ~10 ms of CPU per bad-signature
// token), which anyone who can present a token naming that kid could exploit.
import { importJWK, type JSONWebKeySet, type JWK } from 'jose';

export interface JwksLimits {
  /** RSA keys with a larger modulus are ignored (default 8192). */
  readonly maxRsaModulusBits: number;
}

export const DEFAULT_JWKS_LIMITS: JwksLimits = { maxRsaModulusBits: 8192 };
/** The largest RSA public exponent accepted: 2^32 + 1 (65537 is what everyone uses). */
const MAX_RSA_EXPONENT = 2n ** 32n + 1n;

export interface JwksDocument {
  /** The set with ignored keys left out. */
  readonly jwks: JSONWebKeySet;
  /** One line per key left out, naming it and why. */
  readonly ignored: readonly string[];
}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'] as const;

export class JwksDocumentError extends Error {
  override readonly name = 'JwksDocumentError';
}

/** @throws JwksDocumentError */
export async function parseJwksDocument(text: string, limits: JwksLimits = DEFAULT_JWKS_LIMITS): Promise<JwksDocument> {
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
  const kept: JWK[] = [];
  const ignored: string[] = [];
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
    if (alg === undefined) {
      kept.push(key);
      continue;
    }
    const tooCostly = key.kty === 'RSA' ? rsaCostProblem(key, limits) : undefined;
    if (tooCostly !== undefined) {
      ignored.push(`${name} ignored: ${tooCostly}`);
      continue;
    }
    try {
      await importJWK(key, alg);
    } catch {
      throw new JwksDocumentError(`${name} is not a valid ${key.kty} public key for ${alg}`);
    }
    signingKeys++;
    kept.push(key);
  }
  if (signingKeys === 0) {
    const why = ignored.length > 0 ? ` (${ignored.join('; ')})` : '';
    throw new JwksDocumentError(`no usable signing key (RSA, EC or OKP with use "sig")${why}`);
  }
  return { jwks: { ...(doc as JSONWebKeySet), keys: kept }, ignored };
}

/** Why an RSA key is too costly to verify with, or undefined. Malformed members are left to importJWK to refuse. */
function rsaCostProblem(key: JWK, limits: JwksLimits): string | undefined {
  if (typeof key.n !== 'string' || typeof key.e !== 'string') return undefined;
  const n = stripLeadingZeros(Buffer.from(key.n, 'base64url'));
  const bits = n.length === 0 ? 0 : (n.length - 1) * 8 + (32 - Math.clz32(n[0]!));
  if (bits > limits.maxRsaModulusBits) return `RSA modulus of ${bits} bits exceeds jwks_max_rsa_modulus_bits (${limits.maxRsaModulusBits})`;
  const e = stripLeadingZeros(Buffer.from(key.e, 'base64url'));
  if (e.length > 5 || (e.length > 0 && BigInt(`0x${e.toString('hex')}`) > MAX_RSA_EXPONENT)) {
    return `RSA public exponent of ${e.length * 8} bits exceeds 2^32 + 1`;
  }
  return undefined;
}

function stripLeadingZeros(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  return b.subarray(i);
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
