// The bundle poller and redirects (issue 10): a bundle server that redirects
// to another origin is refused by default, so neither the configured headers
// nor the bearer token reach that origin and nothing it serves is activated.
// With cross_origin_redirects on, the redirect is followed without them. A
// redirect on the same origin is followed with them. Two real loopback
// servers on different ports are two origins.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { bundleTarball, capabilityUnderTest, metricValue, standinWasm, tempDir, until } from './helpers.js';
import { startRecordingServer } from '../support/redirecting-server.js';

async function bundle(root: string, revision: string): Promise<Buffer> {
  return readFileSync(await bundleTarball(root, revision, { wasm: await standinWasm(), manifest: { revision } }));
}

const polling = { min_delay_s: 0.01, max_delay_s: 0.05 };
const secrets = { headers: { 'x-api-key': 'k-123' }, bearer_token_env: 'BUNDLE_TOKEN' };
const env = { BUNDLE_TOKEN: 's3cret' };

t.test('a redirect to another origin is refused by default; that origin sees no request', async (t) => {
  const root = tempDir(t);
  const [home, elsewhere] = [await startRecordingServer(t), await startRecordingServer(t)];
  home.answer('/b.tar.gz', { redirect: `${elsewhere.origin}/evil.tar.gz` });
  elsewhere.answer('/evil.tar.gz', { body: await bundle(root, 'evil') });
  const errors: string[] = [];
  const { cap } = capabilityUnderTest(t, { bundle: { url: `${home.origin}/b.tar.gz`, polling, ...secrets }, ready_timeout_ms: 60_000 },
    { env, onPollAttempt: (outcome, _d, err) => void (outcome === 'error' && errors.push(err!.message)) });
  await until(() => errors.length >= 2, 5000, 'two refused polls');
  t.match(errors[0], /redirect to another origin \(http:\/\/127\.0\.0\.1:\d+\) refused/);
  t.equal(elsewhere.requests.length, 0, 'the other origin was never contacted');
  t.equal(cap.revision(), undefined, 'nothing was activated');
  t.equal(home.requests[0]?.headers['x-api-key'], 'k-123', 'the configured origin got the configured headers');
});

t.test('with cross_origin_redirects the redirect is followed, without the configured headers', async (t) => {
  const root = tempDir(t);
  const [home, elsewhere] = [await startRecordingServer(t), await startRecordingServer(t)];
  home.answer('/b.tar.gz', { redirect: `${elsewhere.origin}/cdn.tar.gz`, status: 307 });
  elsewhere.answer('/cdn.tar.gz', { body: await bundle(root, 'cdn') });
  const { cap } = capabilityUnderTest(t, { bundle: { url: `${home.origin}/b.tar.gz`, polling, cross_origin_redirects: true, ...secrets } }, { env });
  await cap.ready();
  t.equal(cap.revision(), 'cdn');
  const seen = elsewhere.requests[0]!.headers;
  t.equal(seen['x-api-key'], undefined, 'no configured header at the other origin');
  t.equal(seen.authorization, undefined, 'no bearer token at the other origin');
  t.equal(home.requests[0]?.headers.authorization, 'Bearer s3cret');
});

t.test('a redirect on the same origin is followed with the configured headers', async (t) => {
  const root = tempDir(t);
  const home = await startRecordingServer(t);
  home.answer('/b.tar.gz', { redirect: '/v2/b.tar.gz', status: 301 });
  home.answer('/v2/b.tar.gz', { body: await bundle(root, 'v2') });
  const { cap, registry } = capabilityUnderTest(t, { bundle: { url: `${home.origin}/b.tar.gz`, polling, ...secrets } }, { env });
  await cap.ready();
  t.equal(cap.revision(), 'v2');
  t.equal(home.requests.find((r) => r.path === '/v2/b.tar.gz')?.headers['x-api-key'], 'k-123');
  t.equal(await metricValue(registry, 'authz_policy_bundle_loads_total', { outcome: 'success' }), 1);
});
