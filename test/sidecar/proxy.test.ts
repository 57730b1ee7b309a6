import t from 'tap';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { startTestSidecar } from '../support/sidecar.js';

t.test('inline proxy forwards allowed requests with identity headers and answers denials itself', async (t) => {
  const seen: IncomingHttpHeaders[] = [];
  const upstream = createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`upstream saw ${req.method} ${req.url}`);
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  t.teardown(() => upstream.close());
  const port = (upstream.address() as AddressInfo).port;
  const s = await startTestSidecar(t, {
    server: { grpc: { enabled: false }, http: { enabled: false }, admin: { host: '127.0.0.1', port: 0 },
      proxy: { enabled: true, host: '127.0.0.1', port: 0, upstream: `http://127.0.0.1:${port}` } },
  });
  const token = await s.token();
  const ok = await request(s.url('proxy', '/api/v1/tenants/acme/projects/web?x=1'), {
    headers: { authorization: `Bearer ${token}`, 'x-authz-principal': 'mallory' },
  });
  t.equal(ok.statusCode, 200);
  t.equal(await ok.body.text(), 'upstream saw GET /api/v1/tenants/acme/projects/web?x=1');
  t.equal(seen.length, 1);
  t.equal(seen[0]!['x-authz-principal'], 'alice', 'a spoofed identity header is replaced');
  t.equal(seen[0]!['x-authz-tenant'], 'acme');
  t.ok(ok.headers['x-authz-decision-id']);

  const denied = await request(s.url('proxy', '/api/v1/tenants/globex/projects/web'), { headers: { authorization: `Bearer ${token}` } });
  t.equal(denied.statusCode, 403);
  t.match(await denied.body.json(), { reason: 'tenant_mismatch' });
  t.equal(seen.length, 1, 'a denied request never reaches the upstream');
});
