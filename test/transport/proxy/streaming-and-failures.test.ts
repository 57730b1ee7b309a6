// Inline proxy: bodies stream in both directions without being buffered,
// limits and timeouts answer with a reason, a client that goes away aborts
// the upstream request, and every upstream failure is a counted 502/504.
import t from 'tap';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { request } from 'undici';
import { eventually, metricValue, startProxySidecar, startUpstream } from './harness.js';

const MiB = 1024 * 1024;

t.test('an upload streams to the upstream as it is sent (the upstream reads before the client finishes)', async (t) => {
  const up = await startUpstream(t);
  let received = 0;
  up.handle('/up/upload', (req, res) => {
    req.on('data', (c: Buffer) => (received += c.length));
    req.on('end', () => res.end(String(received)));
  });
  const s = await startProxySidecar(t, up);
  const total = 32 * MiB;
  const chunk = Buffer.alloc(MiB, 7);
  const res = await new Promise<string>((resolve, reject) => {
    const req = httpRequest(s.url('proxy', '/up/upload'), { method: 'POST', headers: { 'transfer-encoding': 'chunked' } }, (r) => {
      let text = '';
      r.setEncoding('utf8').on('data', (d) => (text += d)).on('end', () => resolve(text));
    });
    req.on('error', reject);
    let sent = 0;
    const pump = async () => {
      while (sent < total) {
        req.write(chunk);
        sent += chunk.length;
        // Half-way, wait until the upstream has bytes: a buffering proxy would hold them until the end.
        if (sent === total / 2) await eventually(() => received > 0, 'the upstream receives the first bytes mid-upload');
      }
      req.end();
    };
    pump().catch(reject);
  });
  t.equal(Number(res), total, 'every byte arrived');
  t.ok(received > 0);
});

t.test('a download streams to the client as the upstream writes it', async (t) => {
  const up = await startUpstream(t);
  let clientGot = 0;
  up.handle('/up/download', async (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    const chunk = Buffer.alloc(MiB, 1);
    for (let i = 0; i < 32; i++) {
      if (!res.write(chunk)) await new Promise((r) => res.once('drain', r));
      // Half-way, wait until the client has bytes: a buffering proxy would hold them until the end.
      if (i === 16) await eventually(() => clientGot > 0, 'the client receives the first bytes mid-download');
    }
    res.end();
  });
  const s = await startProxySidecar(t, up);
  const res = await request(s.url('proxy', '/up/download'));
  for await (const c of res.body) clientGot += (c as Buffer).length;
  t.equal(clientGot, 32 * MiB);
});

t.test('a declared body over max_body_bytes is 413 body_too_large and never reaches the upstream', async (t) => {
  const up = await startUpstream(t);
  const s = await startProxySidecar(t, up, { max_body_bytes: 1000 });
  const res = await request(s.url('proxy', '/up/big'), { method: 'POST', body: Buffer.alloc(2000) });
  t.equal(res.statusCode, 413);
  t.match(await res.body.json(), { reason: 'body_too_large' });
  t.equal(up.seen.length, 0);
  t.equal(await metricValue(s, 'authz_proxy_upstream_requests_total', { outcome: 'body_too_large' }), 1);
});

t.test('a chunked body that grows over max_body_bytes is cut off with 413', async (t) => {
  const up = await startUpstream(t);
  up.handle('/up/slow-reader', (req, res) => {
    req.resume();
    req.on('end', () => res.end('read it all'));
  });
  const s = await startProxySidecar(t, up, { max_body_bytes: 64 * 1024 });
  const status = await new Promise<number>((resolve, reject) => {
    const req = httpRequest(s.url('proxy', '/up/slow-reader'), { method: 'POST', headers: { 'transfer-encoding': 'chunked' } },
      (r) => {
        r.resume();
        resolve(r.statusCode ?? 0);
      });
    req.on('error', () => undefined);
    for (let i = 0; i < 4; i++) req.write(Buffer.alloc(32 * 1024));
    setTimeout(() => req.destroy(), 5000).unref();
    req.on('close', () => reject(new Error('closed without an answer')));
  });
  t.equal(status, 413);
  t.equal(await metricValue(s, 'authz_proxy_upstream_requests_total', { outcome: 'body_too_large' }), 1);
});

t.test('an upload that stalls past upload_idle_timeout_ms is 408 upload_timeout and aborts the upstream request', async (t) => {
  const up = await startUpstream(t);
  up.handle('/up/stall', (req, res) => {
    req.resume();
    req.on('end', () => res.end('never'));
  });
  const s = await startProxySidecar(t, up, { upload_idle_timeout_ms: 300 });
  const answer = await new Promise<string>((resolve, reject) => {
    const sock = connect(s.sidecar.ports.proxy!, '127.0.0.1');
    let text = '';
    sock.on('data', (d) => (text += d.toString()));
    sock.on('close', () => resolve(text));
    sock.on('error', reject);
    sock.write('POST /up/stall HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n0123456789');
  });
  t.match(answer, /^HTTP\/1\.1 408 /);
  t.match(answer, /"reason":"upload_timeout"/);
  await eventually(() => up.aborted() === 1, 'the upstream request is aborted');
  t.equal(await metricValue(s, 'authz_proxy_upstream_requests_total', { outcome: 'upload_timeout' }), 1);
});

t.test('a client that goes away mid-download aborts the upstream request', async (t) => {
  const up = await startUpstream(t);
  up.handle('/up/endless', (_req, res) => {
    res.writeHead(200);
    const timer = setInterval(() => res.write(Buffer.alloc(16 * 1024)), 5);
    res.once('close', () => clearInterval(timer));
  });
  const s = await startProxySidecar(t, up);
  await new Promise<void>((resolve) => {
    const req = httpRequest(s.url('proxy', '/up/endless'), (res) => {
      res.once('data', () => {
        req.destroy();
        resolve();
      });
    });
    req.on('error', () => undefined);
    req.end();
  });
  await eventually(() => up.aborted() === 1, 'the upstream sees its response aborted');
  t.equal(up.aborted(), 1);
  t.equal(await metricValue(s, 'authz_proxy_upstream_requests_total', { outcome: 'client_abort' }), 1);
});

t.test('upstream refused → 502 upstream_unavailable', async (t) => {
  const up = await startUpstream(t);
  const s = await startProxySidecar(t, up, { upstream: 'http://127.0.0.1:1' });
  const res = await request(s.url('proxy', '/up/x'));
  t.equal(res.statusCode, 502);
  t.match(await res.body.json(), { reason: 'upstream_unavailable', decision_id: String });
  t.equal(await metricValue(s, 'authz_proxy_upstream_requests_total', { outcome: 'upstream_unavailable', upstream: '127.0.0.1:1' }), 1);
});

t.test('upstream resets the connection → 502 upstream_unavailable, and the pool recovers', async (t) => {
  const up = await startUpstream(t);
  up.handle('/up/reset', (req) => req.socket.destroy());
  const s = await startProxySidecar(t, up);
  const res = await request(s.url('proxy', '/up/reset'));
  t.equal(res.statusCode, 502);
  t.match(await res.body.json(), { reason: 'upstream_unavailable' });
  const after = await request(s.url('proxy', '/up/fine'));
  t.equal(after.statusCode, 200, 'the next request is served');
  await after.body.text();
});

t.test('upstream answers too late → 504 upstream_timeout; the decision still ran', async (t) => {
  const up = await startUpstream(t);
  up.handle('/up/hang', () => undefined);
  const s = await startProxySidecar(t, up, { response_timeout_ms: 300 });
  const res = await request(s.url('proxy', '/up/hang'));
  t.equal(res.statusCode, 504);
  t.match(await res.body.json(), { reason: 'upstream_timeout' });
  t.equal(await metricValue(s, 'authz_proxy_upstream_requests_total', { outcome: 'upstream_timeout' }), 1);
  const token = await s.token();
  const denied = await request(s.url('proxy', '/api/v1/tenants/globex/projects/web'), { headers: { authorization: `Bearer ${token}` } });
  t.equal(denied.statusCode, 403, 'a slow upstream never skips the decision');
  await denied.body.text();
});
