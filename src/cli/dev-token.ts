// Signs a JWT with a local private JWK, for trying the sidecar out and for
// scripts. Development only: real tokens come from your identity provider.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { importJWK, SignJWT, type JWK } from 'jose';
import { UsageError, type CliIo } from './io.js';

export async function devTokenCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      key: { type: 'string', default: 'config/dev/dev-signing-key.jwk.json' },
      sub: { type: 'string', default: 'alice' },
      tenant: { type: 'string', default: 'acme' },
      roles: { type: 'string', default: 'editor' },
      issuer: { type: 'string', default: 'https://issuer.example' },
      audience: { type: 'string', default: 'orders-api' },
      ttl: { type: 'string', default: '1h' },
    },
  });
  let jwk: JWK;
  try {
    jwk = JSON.parse(readFileSync(values.key, 'utf8')) as JWK;
  } catch (err) {
    throw new UsageError(`cannot read signing key ${values.key}: ${(err as Error).message}`);
  }
  const alg = jwk.alg ?? 'ES256';
  const key = await importJWK(jwk, alg);
  const token = await new SignJWT({ tenant_id: values.tenant, roles: values.roles.split(',').filter(Boolean) })
    .setProtectedHeader({ alg, kid: jwk.kid, typ: 'JWT' })
    .setSubject(values.sub)
    .setIssuer(values.issuer)
    .setAudience(values.audience)
    .setIssuedAt()
    .setExpirationTime(values.ttl)
    .sign(key);
  io.stdout.write(`${token}\n`);
  return 0;
}
