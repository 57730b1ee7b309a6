// With `tracing` configured, each decision is a span under the request's
// trace (W3C traceparent, or Envoy's B3 headers), with the reason and stage
// timings as attributes, received by a real OTLP/HTTP endpoint; a collector
// that is down or stuck costs dropped (counted) spans, never an answer.
import t from 'tap';
import { request } from 'undici';
import { AuthzClient, envoyCheckRequest } from '../support/grpc-client.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver.js';
import { startTestSidecar, type TestSidecar } from '../support/sidecar.js';

const PATH = '/api/v1/tenants/acme/projects/web';

async function waitFor<T>(what: string, get: () => T | undefined | Promise<T | undefined>, ms = 10_000): Promise<T> {
  for (const until = Date.now() + ms; Date.now() < until;) {
    const v = await get();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function spanOf(receiver: OtlpReceiver, traceId: string): ReceivedSpan | undefined {
  return receiver.spans.find((s) => s.traceId === traceId);
}

async function metric(s: TestSidecar, outcome: string): Promise<number> {
  const text = await (await request(s.url('admin', '/metrics'))).body.text();
  const m = new RegExp(`authz_trace_spans_total\\{outcome="${outcome}"\\} (\\d+)`).exec(text);
  return m ? Number(m[1]) : 0;
}

async function get(s: TestSidecar, headers: Record<string, string>): Promise<{ status: number; decisionId: string }> {
  const res = await request(s.url('http', PATH), { headers: { authorization: `Bearer ${await s.token()}`, ...headers } });
  await res.body.dump();
  return { status: res.statusCode, decisionId: String(res.headers['x-authz-decision-id']) };
}

const tracing = (endpoint: string, extra: Record<string, unknown> = {}) => ({
  otlp: { endpoint, timeout_ms: 1000 }, sample_ratio: 0, batch: { delay_ms: 20 }, service_name: 'authz-test', ...extra,
});

t.test('a decision is a span under the W3C traceparent, with reason and stage timings', async (t) => {
  const receiver = await startOtlpReceiver(t);
  const s = await startTestSidecar(t, { tracing: tracing(receiver.url) });
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const parentId = '00f067aa0ba902b7';
  const { status, decisionId } = await get(s, { traceparent: `00-${traceId}-${parentId}-01` });
  t.equal(status, 200);
  const span = await waitFor('the span', () => spanOf(receiver, traceId));
  t.equal(span.parentSpanId, parentId, 'child of the request’s span');
  t.not(span.spanId, parentId);
  t.equal(span.name, 'authz.decision');
  t.equal(span.kind, 2, 'SPAN_KIND_SERVER');
  t.match(span.resource, { 'service.name': 'authz-test' });
  t.match(span.attributes, {
    'authz.decision_id': decisionId, 'authz.allowed': true, 'authz.reason': 'allowed', 'authz.stage': 'engine',
    'authz.route': 'read-project', 'authz.transport': 'http', 'authz.tenant': 'acme',
    'authz.stage_ms.tenant': Number, 'authz.stage_ms.rbac': Number, 'authz.stages': ['tenant', 'rbac'],
  });
  t.notOk('enduser.id' in span.attributes, 'the principal is left out unless configured');

  const denied = await request(s.url('http', PATH), { headers: { traceparent: `00-${'a'.repeat(32)}-${parentId}-01` } });
  await denied.body.dump();
  const deny = await waitFor('the deny span', () => spanOf(receiver, 'a'.repeat(32)));
  t.match(deny.attributes, { 'authz.allowed': false, 'authz.reason': 'no_identity', 'authz.stage': 'identity' });
  await waitFor('both spans counted as exported', async () => ((await metric(s, 'exported')) === 2 ? true : undefined));
  t.match(s.sidecar.status().parts.tracing, { state: 'ok' });
});

t.test('gRPC Check with Envoy B3 headers: the span joins the B3 trace; unsampled parents are not traced', async (t) => {
  const receiver = await startOtlpReceiver(t);
  const s = await startTestSidecar(t, { tracing: tracing(receiver.url, { attributes: { principal: true } }) });
  const client = new AuthzClient(s.sidecar.ports.grpc!);
  t.teardown(() => client.close());
  const token = `Bearer ${await s.token()}`;
  const traceId = '80f198ee56343ba864fe8b2a57d3eff7';
  const parentId = 'e457b5a2e4d86bd1';
  await client.check(envoyCheckRequest({ path: '/api/v1/tenants/acme/projects/web', headers: {
    authorization: token, 'x-b3-traceid': '1'.repeat(32), 'x-b3-spanid': '2'.repeat(16), 'x-b3-sampled': '0' } }));
  const res = await client.check(envoyCheckRequest({ path: '/api/v1/tenants/acme/projects/web', headers: {
    authorization: token, 'x-b3-traceid': traceId, 'x-b3-spanid': parentId, 'x-b3-sampled': '1' } }));
  t.equal(res.response?.status?.code ?? 0, 0, 'allowed');
  const span = await waitFor('the B3 span', () => spanOf(receiver, traceId));
  t.equal(span.parentSpanId, parentId);
  t.match(span.attributes, { 'authz.transport': 'grpc', 'authz.reason': 'allowed', 'enduser.id': 'alice' });
  await get(s, {}); // no parent, sample_ratio 0: not traced
  const marker = '9'.repeat(32);
  await get(s, { b3: `${marker}-${'3'.repeat(16)}-1` });
  await waitFor('the single-header b3 span', () => spanOf(receiver, marker));
  t.equal(receiver.spans.length, 2, 'the unsampled parent and the unparented request left no span');
  t.notOk(spanOf(receiver, '1'.repeat(32)));
});

t.test('a collector that is down or stuck: spans dropped and counted, every answer unchanged', async (t) => {
  const receiver = await startOtlpReceiver(t);
  receiver.mode = 'refuse';
  const s = await startTestSidecar(t, { tracing: tracing(receiver.url, { sample_ratio: 1, batch: { delay_ms: 20, max_queue: 2, max_export: 1 } }) });
  t.same((await get(s, {})).status, 200);
  await waitFor('an export failure counted', async () => ((await metric(s, 'dropped_export_failed')) >= 1 ? true : undefined));
  t.match(s.sidecar.status().parts.tracing, { state: 'warn', message: /failing/ });

  receiver.mode = 'hang'; // one export in flight, never answered: the queue fills
  const statuses: number[] = [];
  for (let i = 0; i < 8; i++) statuses.push((await get(s, {})).status);
  t.same(statuses, [200, 200, 200, 200, 200, 200, 200, 200], 'answers never wait for the collector');
  t.ok(await metric(s, 'dropped_queue_full') >= 1, 'spans beyond max_queue are dropped and counted');
});

t.test('without a tracing section there is no tracer and no stage clock', async (t) => {
  const s = await startTestSidecar(t);
  t.notOk('tracing' in s.sidecar.status().parts);
  const text = await (await request(s.url('admin', '/metrics'))).body.text();
  t.notMatch(text, /authz_trace_spans_total/);
});
