// The HTTP ext_authz adapter behind a real node:http server, driven by undici
// and, for bytes a well-behaved client will not send, by a raw TCP socket.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { Client } from 'undici';
import type { AuthzRequest } from '../../src/decision/types.js';
import { authzRequestFromHttp, type HttpRequestOptions } from '../../src/request/from-http-request.js';

interface Harness {
  readonly origin: string;
  readonly port: number;
  /** Send one request with undici and return the AuthzRequest the adapter built. */
  send(path: string, init?: { method?: string; headers?: string[] | Record<string, string> }): Promise<AuthzRequest>;
  /** Send raw bytes and return the AuthzRequest the adapter built. */
  raw(bytes: Buffer | string): Promise<AuthzRequest>;
}

async function harness(t: Test, opts: HttpRequestOptions = {}): Promise<Harness> {
  let last: AuthzRequest | undefined;
  // Node's own limit (16 KiB) would refuse large headers before the adapter sees them.
  const server: Server = createServer({ maxHeaderSize: 256 * 1024 }, (req, res) => {
    last = authzRequestFromHttp(req, opts);
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const origin = `http://127.0.0.1:${port}`;
  const client = new Client(origin);
  t.teardown(async () => {
    await client.close();
    await new Promise((resolve) => server.close(resolve));
  });
  const take = (): AuthzRequest => {
    if (last === undefined) throw new Error('the server saw no request');
    const got = last;
    last = undefined;
    return got;
  };
  return {
    origin,
    port,
    async send(path, init = {}) {
      const res = await client.request({ method: (init.method ?? 'GET') as 'GET', path, headers: init.headers });
      await res.body.text();
      return take();
    },
    raw(bytes) {
      return new Promise((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => socket.end(bytes));
        socket.on('error', reject);
        socket.on('data', () => undefined);
        socket.on('close', () => {
          try {
            resolve(take());
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        });
      });
    },
  };
}

t.test('method, path, host, scheme, protocol, transport', async (t) => {
  const h = await harness(t);
  const r = await h.send('/api/v1/projects/p1', { method: 'POST', headers: { host: 'Acme.example.com:8443' } });
  t.match(r, {
    method: 'POST', path: '/api/v1/projects/p1', rawPath: '/api/v1/projects/p1', host: 'Acme.example.com:8443',
    scheme: 'http', protocol: 'HTTP/1.1', transport: 'http',
  });
  t.equal(r.malformed, undefined);
  t.equal(r.source.address, '127.0.0.1', 'without x-forwarded-for the source is the socket peer');
  t.type(r.source.port, 'number');
  t.match(r.requestId, /^[0-9a-f-]{36}$/, 'a request id is generated when Envoy sent none');
});

t.test('forwarded headers: x-request-id, x-forwarded-proto, x-forwarded-for first hop', async (t) => {
  const h = await harness(t);
  const r = await h.send('/x', {
    headers: { 'x-request-id': 'abc-123', 'x-forwarded-proto': 'HTTPS, http', 'x-forwarded-for': '203.0.113.7, 10.0.0.2' },
  });
  t.equal(r.requestId, 'abc-123');
  t.equal(r.scheme, 'https');
  t.same(r.source, { address: '203.0.113.7', port: undefined, principal: undefined, labels: {} });
});

t.test('duplicate headers: joined in headers, every occurrence in headerList', async (t) => {
  const h = await harness(t);
  const r = await h.send('/x', {
    headers: ['X-Tenant-Id', 'acme', 'x-tenant-id', 'globex', 'Cookie', 'a=1', 'cookie', 'b=2',
      'x-forwarded-client-cert', 'By=spiffe://cluster.local/ns/a/sa/b;Hash=00'],
  });
  t.equal(r.headers['x-tenant-id'], 'acme,globex');
  t.equal(r.headers.cookie, 'a=1; b=2');
  t.equal(r.headers['x-forwarded-client-cert'], 'By=spiffe://cluster.local/ns/a/sa/b;Hash=00', 'XFCC stays for identity');
  t.same(r.headerList.filter(([n]) => n === 'x-tenant-id'), [['x-tenant-id', 'acme'], ['x-tenant-id', 'globex']]);
  t.ok(r.headerList.every(([n]) => n === n.toLowerCase()), 'names are lower-case');
});

t.test('query: parsed, first value wins, path excludes it', async (t) => {
  const h = await harness(t);
  const r = await h.send('/search?q=a+b&tag=1&tag=2&enc=%C3%A9&__proto__=x#frag');
  t.equal(r.path, '/search');
  t.equal(r.rawPath, '/search');
  t.same(Object.entries(r.query), [['q', 'a b'], ['tag', '1'], ['enc', 'é'], ['__proto__', 'x']]);
  t.equal(Object.getPrototypeOf(r.query), null);
});

t.test('path normalization and refusals', async (t) => {
  const h = await harness(t);
  const admin = await h.send('/a/../admin');
  t.match(admin, { path: '/admin', rawPath: '/a/../admin' });
  t.equal(admin.malformed, undefined);
  t.equal((await h.send('//admin')).path, '/admin');
  t.equal((await h.send('/%2e%2e/admin')).path, '/admin');
  t.equal((await h.send('/a%2fb')).malformed, 'encoded_slash');
  t.equal((await h.send('/%ff')).malformed, 'bad_path_encoding');
  t.equal((await h.send('/%zz')).malformed, 'bad_path');
});

t.test('non-ASCII bytes in the request line', async (t) => {
  // Node's parser answers 400 itself for raw bytes >= 0x80 in the request line,
  // so the adapter only sees them from a lenient front end; there it judges the
  // bytes that were sent (Node hands them over as latin1 characters).
  const fromLatin1 = (url: string) =>
    authzRequestFromHttp({ url, method: 'GET', httpVersion: '1.1', rawHeaders: ['Host', 'x'],
      socket: { remoteAddress: '127.0.0.1', remotePort: 1 } } as unknown as IncomingMessage);
  const utf8 = fromLatin1(Buffer.from('/café', 'utf8').toString('latin1'));
  t.equal(utf8.path, '/caf%C3%A9');
  t.equal(utf8.malformed, undefined);
  t.equal(fromLatin1(Buffer.from([0x2f, 0x63, 0xe9]).toString('latin1')).malformed, 'bad_path_encoding');

  const h = await harness(t);
  const line = Buffer.concat([Buffer.from('GET /caf'), Buffer.from([0xe9]), Buffer.from(' HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')]);
  await t.rejects(h.raw(line), { message: 'the server saw no request' }, 'node refused it before the adapter');
});

t.test('absolute-form request target', async (t) => {
  const h = await harness(t);
  const r = await h.raw('GET http://api.example.com/a/./b?x=1 HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n');
  t.match(r, { path: '/a/b', rawPath: '/a/./b', query: { x: '1' } });
});

t.test('path_prefix is stripped on a whole-segment match only', async (t) => {
  const h = await harness(t, { pathPrefix: '/authz/' });
  t.match(await h.send('/authz/api/x?y=1'), { path: '/api/x', rawPath: '/api/x', query: { y: '1' } });
  t.match(await h.send('/authz'), { path: '/', rawPath: '/' });
  t.match(await h.send('/authzfoo/x'), { path: '/authzfoo/x' });
  t.match(await h.send('/other'), { path: '/other' });
  t.match(await h.send('/authz/a/../../admin'), { path: '/admin' }, 'the prefix is removed before normalizing');
});

t.test('headers beyond 64 KiB are malformed: header_too_large', async (t) => {
  const h = await harness(t);
  const big = 'x'.repeat(8 * 1024);
  const headers: string[] = [];
  for (let i = 0; i < 9; i++) headers.push(`x-big-${i}`, big);
  const r = await h.send('/x', { headers });
  t.equal(r.malformed, 'header_too_large');
  const ok = await h.send('/x', { headers: headers.slice(0, 8) });
  t.equal(ok.malformed, undefined, '32 KiB is fine');
});

t.test('two Host headers are malformed: ambiguous_host', async (t) => {
  const h = await harness(t);
  const r = await h.raw('GET /x HTTP/1.1\r\nHost: acme.example.com\r\nHost: globex.example.com\r\nConnection: close\r\n\r\n');
  t.equal(r.malformed, 'ambiguous_host');
});
