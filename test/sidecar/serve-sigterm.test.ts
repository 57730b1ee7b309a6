// `authz-sidecar serve` as a real process: it reports its ports, serves, and on
// SIGTERM drains and exits 0 with every decision it made in the audit trail.
import t from 'tap';
import { spawn } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { request } from 'undici';
import { createTestIssuer, writeJwksFile } from '../support/jwt.js';
import { AUDIENCE, ISSUER } from '../support/sidecar.js';
import { distChildEnv } from '../support/dist-child-env.js';
import { serveEnv } from '../support/serve-process.js';

t.test('serve: SIGTERM drains and exits 0 with every decision audited', async (t) => {
  const dir = t.testdir({});
  cpSync('config/fga', join(dir, 'fga'), { recursive: true });
  const issuer = await createTestIssuer({ alg: 'ES256', kid: 'k1' });
  writeJwksFile(dir, issuer.jwks);
  const config = join(dir, 'sidecar.yaml');
  const yaml = readFileSync('config/sidecar.yaml', 'utf8')
    .replace('jwks_file: dev/jwks.json', 'jwks_file: jwks.json')
    .replace('https://issuer.example', ISSUER)
    .replace('audience: orders-api', `audience: ${AUDIENCE}`)
    .replace('deadline_ms: 50', 'deadline_ms: 2000')
    .replace('- jsonl: { dir: ../audit }', '- jsonl: { dir: audit }');
  writeFileSync(config, yaml);
  const child = spawn(process.execPath, ['bin/authz-sidecar.js', 'serve', '--config', config], { env: serveEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });

  const ports = await new Promise<{ http: number; admin: number }>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; ports?: { http: number; admin: number } };
        if (entry.msg === 'authz-sidecar listening' && entry.ports) resolve(entry.ports);
      } catch { /* not a log line */ }
    });
    child.on('exit', () => reject(new Error('serve exited before listening')));
  });
  const token = await issuer.sign({ sub: 'alice', tenant_id: 'acme', roles: ['editor'] }, { issuer: ISSUER, audience: AUDIENCE, expiresIn: '1h' });
  const statuses: number[] = [];
  await Promise.all(Array.from({ length: 50 }, async (_, i) => {
    const tenant = i % 5 === 0 ? 'globex' : 'acme';
    const res = await request(`http://127.0.0.1:${ports.http}/api/v1/tenants/${tenant}/projects/p${i}`, { headers: { authorization: `Bearer ${token}` } });
    await res.body.dump();
    statuses.push(res.statusCode);
  }));
  t.equal(statuses.filter((s) => s === 200).length, 40);
  t.equal(statuses.filter((s) => s === 403).length, 10);

  child.kill('SIGTERM');
  t.equal(await exited, 0, 'exits 0 after draining');

  const verify = spawn(process.execPath, ['bin/authz-sidecar.js', 'audit', 'verify', join(dir, 'audit')], { env: distChildEnv() });
  let out = '';
  verify.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const code = await new Promise<number | null>((resolve) => verify.on('exit', resolve));
  t.equal(code, 0, out);
  t.match(out, /ok: 50 events/, 'all 50 decisions are in the hash-chained trail');
});
