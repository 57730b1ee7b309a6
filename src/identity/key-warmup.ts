// jose imports a JWK into a CryptoKey the first time a token names it, and
// the first signature check warms the crypto path: together several
// milliseconds, which the first real request would otherwise pay inside its
// decision deadline. A key set is therefore exercised once, with a dummy
// token per key (its signature fails, as intended), before it goes into service.
import { jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { signingAlgorithm } from './jwks-document.js';

export async function warmUpKeys(getKey: JWTVerifyGetKey, jwks: JSONWebKeySet): Promise<void> {
  for (const key of jwks.keys) {
    const alg = signingAlgorithm(key);
    if (alg === undefined) continue;
    const header: Record<string, string> = { alg };
    if (typeof key.kid === 'string') header.kid = key.kid;
    const token = `${b64(header)}.${b64({})}.${'A'.repeat(86)}`;
    await jwtVerify(token, getKey, { algorithms: [alg] }).catch(() => {});
  }
}

function b64(v: unknown): string {
  return Buffer.from(JSON.stringify(v)).toString('base64url');
}
