// Inline proxy: a WebSocket upgrade is authorized like any request; allowed,
// it is tunnelled to the upstream; denied, the client gets the status and the
// JSON deny body and the upstream never sees it.
import t from 'tap';
import WebSocket from 'ws';
import { startProxySidecar, startUpstream, metricValue } from './harness.js';

/** Opens a socket; its messages are queued from the start (the greeting can arrive with the 101). */
function open(url: string, headers: Record<string, string> = {}): Promise<{ ws: WebSocket; next(): Promise<string> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    const queued: string[] = [];
    const waiting: Array<(m: string) => void> = [];
    ws.on('message', (d) => {
      const w = waiting.shift();
      if (w) w(String(d));
      else queued.push(String(d));
    });
    const next = () => new Promise<string>((r) => {
      const m = queued.shift();
      if (m !== undefined) r(m);
      else waiting.push(r);
    });
    ws.once('open', () => resolve({ ws, next }));
    ws.once('error', reject);
  });
}

t.test('an allowed WebSocket is tunnelled both ways, with the identity headers set', async (t) => {
  const up = await startUpstream(t);
  const s = await startProxySidecar(t, up);
  const token = await s.token();
  const url = `ws://127.0.0.1:${s.sidecar.ports.proxy}/up/ws`;
  const { ws, next } = await open(url, { authorization: `Bearer ${token}`, 'x-authz-principal': 'mallory' });
  t.teardown(() => ws.terminate());
  t.equal(await next(), 'hello alice', 'the upstream saw the verified principal, not the spoofed one');
  ws.send('ping 1');
  t.equal(await next(), 'echo ping 1');
  t.equal(await metricValue(s, 'authz_proxy_upstream_requests_total', { outcome: 'upgraded' }), 1);
});

t.test('a denied WebSocket gets the status and the JSON body, and never reaches the upstream', async (t) => {
  const up = await startUpstream(t);
  const s = await startProxySidecar(t, up);
  const token = await s.token({ tenant_id: 'globex' });
  const url = `ws://127.0.0.1:${s.sidecar.ports.proxy}/api/v1/tenants/acme/projects/web`;
  const refused = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('open', () => reject(new Error('a denied upgrade was opened')));
    ws.once('error', () => undefined);
  });
  t.equal(refused.status, 403);
  t.match(JSON.parse(refused.body), { reason: 'tenant_mismatch', decision_id: String });
  t.equal(up.connections(), 0, 'the upstream never saw a connection');
});

t.test('an upstream that is down answers the upgrade with 502 upstream_unavailable', async (t) => {
  const up = await startUpstream(t);
  const s = await startProxySidecar(t, up, { upstream: 'http://127.0.0.1:1' });
  const status = await new Promise<number>((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${s.sidecar.ports.proxy}/up/ws`);
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.once('error', () => undefined);
  });
  t.equal(status, 502);
  t.equal(await metricValue(s, 'authz_proxy_upstream_requests_total', { outcome: 'upstream_unavailable' }), 1);
});
