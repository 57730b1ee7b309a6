// A fresh signing key per run: the bench writes the public half as a JWKS
// file the sidecar's config points at, and signs the one token every request
// carries. Nothing here is a secret worth keeping; bench/out/ is git-ignored.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';

/** Must match identity.jwt in bench/config/*.yaml. */
export const BENCH_ISSUER = 'https://issuer.bench.local';
export const BENCH_AUDIENCE = 'bench-api';

/**
 * Generates an RS256 key pair (what most identity providers sign with),
 * writes `<outDir>/jwks.json` (and the token to `<outDir>/token.jwt`), and returns a bearer token for `claims`,
 * and `sign(claims)`: another token from the same key (benches that vary the principal).
 */
export async function mintBenchCredentials(outDir, { sub = 'alice', tenant = 'acme', roles = ['viewer'] } = {}) {
  const alg = 'RS256';
  const kid = `bench-${Date.now().toString(36)}`;
  const { publicKey, privateKey } = await generateKeyPair(alg, { modulusLength: 2048 });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  mkdirSync(outDir, { recursive: true });
  const jwksFile = path.join(outDir, 'jwks.json');
  writeFileSync(jwksFile, `${JSON.stringify({ keys: [jwk] }, null, 2)}\n`);
  const sign = (c) => new SignJWT({ tenant_id: c.tenant, roles: c.roles })
    .setProtectedHeader({ alg, kid, typ: 'JWT' })
    .setSubject(c.sub)
    .setIssuer(BENCH_ISSUER)
    .setAudience(BENCH_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(privateKey);
  const token = await sign({ sub, tenant, roles });
  // Kept for poking at a running bench sidecar by hand (curl, h2load).
  writeFileSync(path.join(outDir, 'token.jwt'), `${token}\n`);
  return { jwksFile, token, sub, tenant, roles, sign };
}
