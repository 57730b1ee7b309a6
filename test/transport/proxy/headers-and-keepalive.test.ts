// Inline proxy: pooled keep-alive upstream connections, hop-by-hop and
// forwarding headers, owned headers never passed through, the judged path is
// the forwarded path, and a denied `100-continue` upload is never sent.
import t from 'tap';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { request } from 'undici';
import { startProxySidecar, startUpstream } from './harness.js';

t.test('many requests reuse a few upstream connections', async (t) => {
  const up = await startUpstream(t);
  const s = await startProxySidecar(t, up);
  for (let i = 0; i < 50; i++) {
    const res = await request(s.url('proxy', `/up/seq/${i}`));
    t.equal(res.statusCode, 200);
    await res.body.text();
  }
  t.equal(up.connections(), 1, '50 sequential requests over one upstream connection');
  await Promise.all(Array.from({ length: 40 }, async (_, i) => {
    const res = await request(s.url('proxy', `/up/par/${i}`));
    await res.body.text();
  }));
  t.ok(up.connections() <= 41, `40 concurrent requests opened at most 40 more connections (${up.connections()})`);
  const before = up.connections();
  for (let i = 0; i < 20; i++) await (await request(s.url('proxy', `/up/again/${i}`))).body.text();
  t.equal(up.connections(), before, 'idle pooled connections are reused afterwards');
});

t.test('the pool is bounded by server.proxy.connections', async (t) => {
  const up = await startUpstream(t);
  const s = await startProxySidecar(t, up, { connections: 2 });
  await Promise.all(Array.from({ length: 30 }, async (_, i) => (await request(s.url('proxy', `/up/b/${i}`))).body.text()));
  t.ok(up.connections() <= 2, `30 concurrent requests through at most 2 connections (${up.connections()})`);
});

t.test('owned headers from the client never reach the upstream', async (t) => {
  const up = await startUpstream(t);
  const s = await startProxySidecar(t, up);
  const spoofed = {
    'x-authz-principal': 'mallory', 'x-authz-tenant': 'globex', 'x-authz-roles': 'admin',
    'x-authz-warning': 'none', 'x-budget-remaining-daily': '999', 'x-budget-class': 'realtime',
  };
  await (await request(s.url('proxy', '/up/anon'), { headers: spoofed })).body.text();
  const anon = up.seen.at(-1)!.headers;
  for (const name of Object.keys(spoofed)) t.equal(anon[name], undefined, `${name} removed on an anonymous route`);

  const token = await s.token({ roles: [] , tenant_id: 'acme' });
  await (await request(s.url('proxy', '/up/with-identity'), { headers: { ...spoofed, authorization: `Bearer ${token}` } })).body.text();
  const known = up.seen.at(-1)!.headers;
  t.equal(known['x-authz-principal'], 'alice', 'the decision sets the principal');
  t.equal(known['x-authz-roles'], undefined, 'a principal with no roles: the spoofed roles are gone, not kept');
  t.equal(known['x-budget-remaining-daily'], undefined);
});

t.test('hop-by-hop headers are dropped, x-forwarded-* and forwarded are set, via when configured', async (t) => {
  const up = await startUpstream(t);
  const s = await startProxySidecar(t, up, { via: 'authz-sidecar' });
  // node:http as the client: undici refuses to send hop-by-hop headers at all.
  await new Promise<void>((resolve, reject) => {
    httpRequest(s.url('proxy', '/up/h'), {
      headers: {
      connection: 'keep-alive, x-hop-secret', 'x-hop-secret': 'drop me', 'keep-alive': 'timeout=5', te: 'trailers',
      'proxy-authorization': 'Basic abc', 'x-forwarded-for': '6.6.6.6', forwarded: 'for=6.6.6.6',
      'x-forwarded-proto': 'https', 'x-end-to-end': 'keep me',
      },
    }, (res) => res.resume().on('end', resolve)).on('error', reject).end();
  });
  const h = up.seen.at(-1)!.headers;
  t.equal(h['x-hop-secret'], undefined, 'a header the Connection header lists is hop-by-hop');
  t.equal(h['proxy-authorization'], undefined);
  t.equal(h.te, undefined);
  t.equal(h['x-end-to-end'], 'keep me');
  t.equal(h['x-forwarded-for'], '127.0.0.1', 'an untrusted client cannot forge its address: replaced');
  t.equal(h['x-forwarded-proto'], 'http', 'nor the scheme');
  t.match(h['x-forwarded-host'], /^127\.0\.0\.1:\d+$/);
  t.match(h.forwarded, /^for=127\.0\.0\.1;proto=http;host=127\.0\.0\.1:\d+$/);
  t.equal(h.via, '1.1 authz-sidecar');
});

t.test('a trusted previous hop is appended to, not replaced', async (t) => {
  const up = await startUpstream(t);
  const s = await startProxySidecar(t, up, { trusted_proxies: ['127.0.0.0/8'] });
  await (await request(s.url('proxy', '/up/t'), {
    headers: { 'x-forwarded-for': '203.0.113.7', forwarded: 'for=203.0.113.7', 'x-forwarded-proto': 'https' },
  })).body.text();
  const h = up.seen.at(-1)!.headers;
  t.equal(h['x-forwarded-for'], '203.0.113.7, 127.0.0.1');
  t.equal(h['x-forwarded-proto'], 'https');
  t.match(h.forwarded, /^for=203\.0\.113\.7, for=127\.0\.0\.1;proto=http;/);
});

t.test('a bad trusted_proxies entry is refused at start with a clear error', async (t) => {
  const up = await startUpstream(t);
  await t.rejects(startProxySidecar(t, up, { trusted_proxies: ['not-an-ip'] }), /trusted_proxies: "not-an-ip" is not an IP address or CIDR/);
});

t.test('the upstream receives the path the decision judged', async (t) => {
  const up = await startUpstream(t);
  const s = await startProxySidecar(t, up);
  const token = await s.token();
  const res = await request(s.url('proxy', '/api/v1/tenants/acme/projects/x/../web?q=1'), { headers: { authorization: `Bearer ${token}` } });
  t.equal(res.statusCode, 200);
  t.equal(await res.body.text(), 'upstream saw GET /api/v1/tenants/acme/projects/web?q=1');
});

t.test('an allowed request with Expect: 100-continue gets 100 Continue, and its body reaches the upstream', async (t) => {
  const up = await startUpstream(t);
  up.handle('/up/continue', (req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => res.end(`got ${body}`));
  });
  const s = await startProxySidecar(t, up);
  const answer = await new Promise<{ status: number; text: string; continued: boolean }>((resolve, reject) => {
    let continued = false;
    const req = httpRequest(s.url('proxy', '/up/continue'), { method: 'PUT', headers: { expect: '100-continue', 'content-length': 5 } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d)).on('end', () => resolve({ status: res.statusCode ?? 0, text, continued }));
    });
    req.on('continue', () => {
      continued = true;
      req.end('hello');
    });
    req.on('error', reject);
  });
  t.ok(answer.continued, 'the proxy asked for the body');
  t.equal(answer.status, 200);
  t.equal(answer.text, 'got hello');
  t.equal(up.seen.at(-1)!.headers.expect, undefined, 'the upstream is not asked again: the body simply follows');
});

t.test('a denied request with Expect: 100-continue never sends its body', async (t) => {
  const up = await startUpstream(t);
  const s = await startProxySidecar(t, up);
  const token = await s.token();
  const answer = await new Promise<string>((resolve, reject) => {
    const sock = connect(s.sidecar.ports.proxy!, '127.0.0.1');
    let text = '';
    sock.on('data', (d) => {
      text += d.toString();
      if (text.includes('\r\n\r\n') && text.includes('}')) {
        sock.destroy();
        resolve(text);
      }
    });
    sock.on('error', reject);
    sock.write(`PUT /api/v1/tenants/globex/projects/web HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${token}\r\n` +
      'content-length: 5\r\nexpect: 100-continue\r\n\r\n');
  });
  t.match(answer, /^HTTP\/1\.1 403 /, 'the denial comes first, not 100 Continue');
  t.notMatch(answer, /100 Continue/);
  t.match(answer, /"reason":"tenant_mismatch"/);
  t.equal(up.seen.length, 0, 'the upstream never saw it');
});
