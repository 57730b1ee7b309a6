// Issue 9, finding 5: `Host: acme.example.com, globex.example.com` resolved the
// host-based tenant to acme instead of ambiguous_host; a duplicate
// authorization/tenant/host header placed after ~1,000 others was silently
// dropped by Node's header-count limit, so the ambiguity checks never saw it.
import t from 'tap';
import { connect } from 'node:net';
import { AuthzClient, envoyCheckRequest } from '../support/grpc-client.js';
import { PROJECT_ROUTES, startTestSidecar } from '../support/sidecar.js';

const HOST_ROUTE = { name: 'by-host', match: { method: 'GET', path: '/h' }, action: 'read',
  resource: { type: 'doc', id: 'd', tenant: 'host' }, stages: ['tenant', 'rbac'] };

/** One HTTP/1.1 request over a raw socket: exact headers, in order, as many as we like. */
function rawHttp(port: number, lines: string[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.on('data', (c) => (data += c.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0);
      resolve({ status, body: data.slice(data.indexOf('\r\n\r\n') + 4) });
    });
    // Not end(): a half-closed client may lose a response that is still being decided.
    socket.write(`${lines.join('\r\n')}\r\nconnection: close\r\n\r\n`);
  });
}

const reasonOf = (body: string): string | undefined => {
  try {
    return (JSON.parse(body) as { reason?: string }).reason;
  } catch {
    return undefined;
  }
};

t.test('HTTP: a comma-joined Host is ambiguous_host, not its first name', async (t) => {
  const s = await startTestSidecar(t, { routes: [...PROJECT_ROUTES, HOST_ROUTE] });
  const token = await s.token();
  const port = s.sidecar.ports.http!;
  const ok = await rawHttp(port, ['GET /h HTTP/1.1', 'host: acme.example.com', `authorization: Bearer ${token}`]);
  t.equal(ok.status, 200, 'the host names the caller\'s tenant');
  const joined = await rawHttp(port, ['GET /h HTTP/1.1', 'host: acme.example.com, globex.example.com',
    `authorization: Bearer ${token}`]);
  t.equal(joined.status, 403);
  t.equal(reasonOf(joined.body), 'ambiguous_host');
});

t.test('HTTP: a duplicate credential after 1,000 other headers is refused, not dropped', async (t) => {
  const s = await startTestSidecar(t);
  const token = await s.token();
  const other = await s.token({ sub: 'mallory', roles: ['admin'] });
  const port = s.sidecar.ports.http!;
  const filler = (n: number) => Array.from({ length: n }, (_, i) => `x-filler-${i}: ${i}`);
  const path = 'GET /api/v1/tenants/acme/projects/web HTTP/1.1';
  const many = await rawHttp(port, [path, 'host: a', `authorization: Bearer ${token}`, ...filler(1100),
    `authorization: Bearer ${other}`]);
  t.not(many.status, 200, 'over the header count: never allowed');
  t.equal(reasonOf(many.body), 'too_many_headers');
  const under = await rawHttp(port, [path, 'host: a', `authorization: Bearer ${token}`, ...filler(900),
    `authorization: Bearer ${other}`]);
  t.equal(under.status, 401, 'under it the duplicate is seen');
  t.equal(reasonOf(under.body), 'ambiguous_credentials');
  const plain = await rawHttp(port, [path, 'host: a', `authorization: Bearer ${token}`, ...filler(900)]);
  t.equal(plain.status, 200, 'many headers alone are fine');
});

t.test('gRPC: comma-joined host and over-count header_map are denied with their reason', async (t) => {
  const s = await startTestSidecar(t, { routes: [...PROJECT_ROUTES, HOST_ROUTE] });
  const client = new AuthzClient(s.sidecar.ports.grpc!);
  t.teardown(() => client.close());
  const auth = { authorization: `Bearer ${await s.token()}` };
  const reason = (r: Awaited<ReturnType<AuthzClient['check']>>) =>
    reasonOf(r.response?.deniedResponse?.body ?? '{}');

  const ok = await client.check(envoyCheckRequest({ path: '/h', host: 'acme.example.com', headers: auth }));
  t.equal(ok.response?.status?.code ?? 0, 0);
  const joined = await client.check(envoyCheckRequest({ path: '/h', host: 'acme.example.com, globex.example.com', headers: auth }));
  t.equal(joined.response?.status?.code, 7);
  t.equal(reason(joined), 'ambiguous_host');

  // Envoy's encode_raw_headers form: every occurrence, here 1,100 of them.
  const req = envoyCheckRequest({ path: '/api/v1/tenants/acme/projects/web', headers: auth }) as {
    attributes: { request: { http: Record<string, unknown> } };
  };
  req.attributes.request.http.headers = {};
  req.attributes.request.http.headerMap = {
    headers: [{ key: 'authorization', value: auth.authorization },
      ...Array.from({ length: 1100 }, () => ({ key: '', value: '' }))],
  };
  const many = await client.check(req);
  t.equal(many.response?.status?.code, 7, 'empty entries count');
  t.equal(reason(many), 'too_many_headers');
});
