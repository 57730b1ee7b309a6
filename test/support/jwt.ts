// A test JWT issuer: a fresh key pair, its public JWKS, and a signer. Used by
// the identity tests, the sidecar end-to-end tests and the bench.
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JSONWebKeySet, type JWK } from 'jose';

export type TestAlg = 'RS256' | 'ES256' | 'EdDSA';

export interface SignOpts {
  /** Relative: a number of seconds from now (negative = already expired), or a jose span ('1h', '-5m'). `null` omits `exp`. Default '1h'. */
  expiresIn?: string | number | null;
  /** Relative like expiresIn; omitted by default. */
  notBefore?: string | number;
  /** Header `kid`; default the issuer's. `null` omits it. */
  kid?: string | null;
  /** Header `alg`; default the issuer's (only another alg of the same key type signs). */
  alg?: string;
  issuer?: string;
  audience?: string | string[];
}

export interface TestIssuer {
  readonly alg: TestAlg;
  readonly kid: string;
  /** The public key set a verifier trusts. */
  readonly jwks: JSONWebKeySet;
  readonly publicJwk: JWK;
  readonly privateJwk: JWK;
  sign(claims: Record<string, unknown>, opts?: SignOpts): Promise<string>;
}

export async function createTestIssuer(opts: { alg?: TestAlg; kid?: string } = {}): Promise<TestIssuer> {
  const alg = opts.alg ?? 'ES256';
  const kid = opts.kid ?? randomUUID();
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  const privateJwk: JWK = { ...(await exportJWK(privateKey)), kid, alg };
  return {
    alg,
    kid,
    jwks: { keys: [publicJwk] },
    publicJwk,
    privateJwk,
    async sign(claims, o = {}) {
      const header: { alg: string; typ: string; kid?: string } = { alg: o.alg ?? alg, typ: 'JWT' };
      const headerKid = o.kid === undefined ? kid : o.kid;
      if (headerKid !== null) header.kid = headerKid;
      const jwt = new SignJWT(claims).setProtectedHeader(header).setIssuedAt();
      const expiresIn = o.expiresIn === undefined ? '1h' : o.expiresIn;
      if (expiresIn !== null) jwt.setExpirationTime(relative(expiresIn));
      if (o.notBefore !== undefined) jwt.setNotBefore(relative(o.notBefore));
      if (o.issuer !== undefined) jwt.setIssuer(o.issuer);
      if (o.audience !== undefined) jwt.setAudience(o.audience);
      const key = header.alg === alg ? privateKey : await importJWK(privateJwk, header.alg);
      return jwt.sign(key);
    },
  };
}

/** Writes `jwks` as `name` (default jwks.json) in `dir`; returns the path. */
export function writeJwksFile(dir: string, jwks: JSONWebKeySet, name = 'jwks.json'): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(jwks, null, 2));
  return file;
}

/** Joins arbitrary header/payload/signature into a compact token, for forging bad ones. */
export function compactToken(header: unknown, payload: unknown, signature = ''): string {
  const enc = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
  return `${enc(header)}.${enc(payload)}.${signature}`;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function relative(span: string | number): string | number {
  return typeof span === 'number' ? nowSeconds() + span : span;
}
