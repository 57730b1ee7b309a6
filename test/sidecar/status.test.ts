// /status and /readyz say why: a state and a message per part (identity,
// each capability), with the facts an operator looks for — bundle revision
// and age, FGA model id, budget backend, audit queue depth and backlog.
import t from 'tap';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { auditStatus } from '../../src/audit/status.js';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/observability/logger.js';
import { Sidecar } from '../../src/sidecar.js';
import { bundleTarball, standinWasm, tempDir } from '../policy/helpers.js';
import { writeJwksFile, createTestIssuer } from '../support/jwt.js';
import { AUDIENCE, ISSUER, PROJECT_ROUTES, startTestSidecar } from '../support/sidecar.js';

t.test('/status: every part ok, with its facts; /readyz carries the same states', async (t) => {
  const root = tempDir(t, 'status-');
  const bundle = await bundleTarball(root, 'b', { wasm: await standinWasm(), manifest: { revision: 'rev-9', roots: ['standin'] } });
  copyFileSync('config/fga/model.fga', join(root, 'model.fga'));
  const s = await startTestSidecar(t, {
    policy: { bundle: { file: bundle } },
    budget: { backend: 'memory', tenants: { acme: { daily: 10 } } },
    rebac: { mode: 'embedded', embedded: { model: join(root, 'model.fga') } },
    audit: { sinks: [{ jsonl: { dir: 'audit', max_bytes: 1024 * 1024 } }] },
  });
  const res = await request(s.url('admin', '/status'));
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-type'], /application\/json/);
  const body = await res.body.json();
  t.match(body, {
    state: 'ok',
    ready: true,
    parts: {
      identity: { state: 'ok', message: /keys loaded/ },
      policy: { state: 'ok', message: /rev-9/, details: { revision: 'rev-9', bundle_age_s: Number } },
      rebac: { state: 'ok', details: { mode: 'embedded', model_id: String } },
      budget: { state: 'ok', details: { backend: 'memory', tenants: 1 } },
      audit: { state: 'ok', details: { trail_bytes: Number, trail_max_bytes: 1024 * 1024, backlog_bytes: 0, oldest_unshipped_age_s: null } },
    },
  });
  const ready = await request(s.url('admin', '/readyz'));
  t.equal(ready.statusCode, 200);
  t.match(await ready.body.json(), {
    status: 'ready',
    checks: { identity: true, policy: true, rebac: true, budget: true, audit: true },
    parts: { policy: { state: 'ok', message: /rev-9/ }, audit: { state: 'ok' } },
  });
});

t.test('/readyz says why it is not ready: the bundle server answers 500', async (t) => {
  const bundles = createServer((_req, res) => { res.writeHead(500); res.end('broken'); });
  await new Promise<void>((r) => bundles.listen(0, '127.0.0.1', r));
  t.teardown(() => { bundles.closeAllConnections(); bundles.close(); });
  const dir = t.testdir({});
  const issuer = await createTestIssuer({ alg: 'ES256', kid: 'k1' });
  writeJwksFile(dir, issuer.jwks);
  const loopback = { host: '127.0.0.1', port: 0 };
  const loaded = parseConfig({
    server: { grpc: { enabled: false }, http: loopback, admin: loopback },
    log: { level: 'silent' },
    identity: { jwt: { jwks_file: join(dir, 'jwks.json'), issuer: ISSUER, audience: AUDIENCE } },
    policy: { bundle: { url: `http://127.0.0.1:${(bundles.address() as AddressInfo).port}/b.tar.gz` }, ready_timeout_ms: 60_000 },
    routes: PROJECT_ROUTES,
  });
  const sidecar = await Sidecar.start({ loaded, log: createLogger('silent'), waitReady: false, watch: false });
  t.teardown(() => sidecar.close());
  const readyz = `http://127.0.0.1:${sidecar.ports.admin}/readyz`;
  let body: { status?: string; parts?: Record<string, { state: string; message: string }> } = {};
  let code = 0;
  for (const until = Date.now() + 10_000; Date.now() < until;) {
    const res = await request(readyz);
    code = res.statusCode;
    body = await res.body.json() as typeof body;
    if (body.parts?.policy?.message.includes('500')) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.equal(code, 503);
  t.match(body, { status: 'not_ready', checks: { policy: false }, parts: { policy: { state: 'not_ready', message: /no bundle yet: .*500/ } } });
  const status = await (await request(`http://127.0.0.1:${sidecar.ports.admin}/status`)).body.json();
  t.match(status, { state: 'not_ready', ready: false, parts: { identity: { state: 'ok' }, policy: { state: 'not_ready' } } });
});

t.test('audit status: warns on a filling trail, a sink down or shipping behind; errors when decisions are denied', async (t) => {
  const base = { started: true, startError: undefined, failing: false, accepting: true, trailBytes: 100, trailMaxBytes: 1000,
    backlogBytes: 0, oldestUnshippedAgeS: null, sinksDown: [], chainBreaks: 0 };
  t.match(auditStatus(base), { state: 'ok' });
  t.match(auditStatus({ ...base, started: false }), { state: 'not_ready' });
  t.match(auditStatus({ ...base, started: false, startError: 'EACCES' }), { state: 'error', message: /EACCES/ });
  t.match(auditStatus({ ...base, trailBytes: 850 }), { state: 'warn', message: /trail 850\/1000 bytes/ });
  t.match(auditStatus({ ...base, backlogBytes: 900, oldestUnshippedAgeS: 75, sinksDown: ['kafka'] }),
    { state: 'warn', message: /sink down: kafka.*oldest unshipped event 75 s old, 900 bytes/, details: { oldest_unshipped_age_s: 75, sinks_down: 'kafka' } });
  t.match(auditStatus({ ...base, backlogBytes: 900, oldestUnshippedAgeS: 2 }), { state: 'ok' }, 'a few seconds behind is normal');
  t.match(auditStatus({ ...base, chainBreaks: 1 }), { state: 'warn', message: /hash-chain/ });
  t.match(auditStatus({ ...base, accepting: false }), { state: 'error', message: /audit_unavailable/ });
});
