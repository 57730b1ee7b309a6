// The undici path speaks OpenFGA's HTTP API exactly as @openfga/sdk does:
// the same checks, sent through the SDK and through FgaClient (the sidecar's
// Check/BatchCheck/ReadChanges path) against `fga serve`, give the same answer
// or the same error (kind and message) every time — allowed, denied, invalid
// relation/type/user, contextual tuples, HIGHER_CONSISTENCY, an unknown store
// or model, a missing or wrong preshared key, and the client-credentials
// token exchange (one exchange reused, refreshed when it expires).
import t from 'tap';
import type { Test } from 'tap';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { ConsistencyPreference, CredentialsMethod, OpenFgaClient } from '@openfga/sdk';
import type { UserClientConfigurationParams } from '@openfga/sdk';
import { Registry } from 'prom-client';
import type { FgaCheck } from '../../../src/rebac/checker.js';
import { parseRebacConfig } from '../../../src/rebac/config.js';
import { RebacMetrics } from '../../../src/rebac/metrics.js';
import { loadEmbeddedStore } from '../../../src/rebac/embedded/index.js';
import { startFgaApiServer } from '../../../src/rebac/fga-api/server.js';
import { FgaClient } from '../../../src/rebac/remote/fga-client.js';
import type { Consistency } from '../../../src/rebac/remote/fga-client.js';
import { classifyUpstreamError } from '../../../src/rebac/remote/upstream-error.js';
import { log, MODEL, TUPLES } from './harness.js';

type Outcome = { allowed: boolean } | { error: { kind: string; message: string } };

const asError = (err: unknown): Outcome => {
  const e = classifyUpstreamError(err);
  return { error: { kind: e.kind, message: e.message } };
};

interface Endpoint {
  apiUrl: string;
  storeId: string;
  modelId: string;
}

/** Both paths for one server and credentials: the SDK as any OpenFGA user calls it, and ours. */
function clients(t: Test, ep: Endpoint, auth: { apiToken?: string; cc?: Record<string, string> } = {}) {
  const remote: Record<string, unknown> = { api_url: ep.apiUrl, store_id: ep.storeId, authorization_model_id: ep.modelId };
  if (auth.apiToken !== undefined) remote.api_token = auth.apiToken;
  if (auth.cc !== undefined) remote.client_credentials = auth.cc;
  const config = parseRebacConfig({ mode: 'remote', remote }).remote!;
  const ours = new FgaClient(config, new RebacMetrics(new Registry()));
  t.teardown(() => ours.close());
  const params: UserClientConfigurationParams = {
    apiUrl: ep.apiUrl, storeId: ep.storeId, authorizationModelId: ep.modelId, retryParams: { maxRetry: 0 }, telemetry: { metrics: {} },
  };
  if (auth.apiToken !== undefined) params.credentials = { method: CredentialsMethod.ApiToken, config: { token: auth.apiToken } };
  if (auth.cc !== undefined) {
    params.credentials = {
      method: CredentialsMethod.ClientCredentials,
      config: { apiTokenIssuer: auth.cc.api_token_issuer!, apiAudience: auth.cc.api_audience!, clientId: auth.cc.client_id!, clientSecret: auth.cc.client_secret! },
    };
  }
  const sdk = new OpenFgaClient(params);
  const sdkConsistency = (c?: Consistency) =>
    c === 'HIGHER_CONSISTENCY' ? { consistency: ConsistencyPreference.HigherConsistency } : {};
  return {
    sdkCheck: (c: FgaCheck, consistency?: Consistency): Promise<Outcome> =>
      sdk.check(
        { user: c.user, relation: c.relation, object: c.object, ...(c.contextualTuples ? { contextualTuples: [...c.contextualTuples] } : {}) },
        sdkConsistency(consistency),
      ).then((r) => ({ allowed: r.allowed === true }), asError),
    oursCheck: (c: FgaCheck, consistency?: Consistency): Promise<Outcome> =>
      ours.check(c, ep.modelId, 5000, consistency).then((allowed) => ({ allowed }), asError),
    /** The SDK's BatchCheck, read the way the sidecar read it before the undici path. */
    sdkBatch: async (checks: FgaCheck[]): Promise<Outcome[] | Outcome> => {
      try {
        const res = await sdk.batchCheck({
          checks: checks.map((c, i) => ({ user: c.user, relation: c.relation, object: c.object, correlationId: `c${i}` })),
        }, { maxBatchSize: 50, maxParallelRequests: 1 });
        const byId = new Map(res.result.map((r) => [r.correlationId, r]));
        return checks.map((_, i): Outcome => {
          const r = byId.get(`c${i}`)!;
          const e = r.error as { input_error?: unknown; internal_error?: unknown; message?: string } | undefined;
          if (e !== undefined && (e.input_error !== undefined || e.internal_error !== undefined || (e.message ?? '') !== '')) {
            return { error: { kind: e.internal_error !== undefined ? 'http_5xx' : 'bad_request', message: `${String(e.input_error ?? e.internal_error ?? '')}: ${e.message ?? ''}` } };
          }
          return { allowed: r.allowed === true };
        });
      } catch (err) {
        return asError(err);
      }
    },
    oursBatch: (checks: FgaCheck[]): Promise<Outcome[] | Outcome> =>
      ours.batchCheck(checks, ep.modelId, 5000).then(
        (items) => items.map((o): Outcome => ('error' in o ? { error: { kind: o.error.kind, message: o.error.message } } : { allowed: o.allowed })),
        asError,
      ),
    ours,
    sdk,
  };
}


async function fgaServer(t: Test, apiToken?: string): Promise<Endpoint & { registryStore: ReturnType<typeof loadEmbeddedStore> }> {
  const source = loadEmbeddedStore({ modelPath: MODEL, tuplesPath: TUPLES, storeName: 'contract' });
  const server = await startFgaApiServer({ host: '127.0.0.1', port: 0, store: source.store, log, ...(apiToken !== undefined ? { apiToken } : {}) });
  t.teardown(() => server.close());
  return { apiUrl: `http://127.0.0.1:${server.port}`, storeId: source.store.id, modelId: source.store.getModel().id, registryStore: source };
}

const CHECKS: Array<[string, FgaCheck]> = [
  ['allowed through admin from owner', { user: 'user:alice', relation: 'can_deploy', object: 'project:acme-web' }],
  ['denied', { user: 'user:bob', relation: 'can_deploy', object: 'project:acme-web' }],
  ['allowed directly', { user: 'user:carol', relation: 'viewer', object: 'project:acme-web' }],
  ['unknown relation', { user: 'user:alice', relation: 'can_fly', object: 'project:acme-web' }],
  ['unknown object type', { user: 'user:alice', relation: 'viewer', object: 'rocket:one' }],
  ['malformed user', { user: 'alice', relation: 'viewer', object: 'project:acme-web' }],
  ['malformed object', { user: 'user:alice', relation: 'viewer', object: 'project' }],
  ['allowed by a contextual tuple', {
    user: 'user:zed', relation: 'can_read', object: 'project:acme-web',
    contextualTuples: [{ user: 'user:zed', relation: 'member', object: 'org:acme' }],
  }],
  ['a contextual tuple the model refuses', {
    user: 'user:zed', relation: 'can_read', object: 'project:acme-web',
    contextualTuples: [{ user: 'user:zed', relation: 'owner', object: 'project:acme-web' }],
  }],
];

t.test('Check: the same answer or error through the SDK and through undici', async (t) => {
  const ep = await fgaServer(t);
  const c = clients(t, ep);
  for (const [name, check] of CHECKS) {
    const sdk = await c.sdkCheck(check);
    t.same(await c.oursCheck(check), sdk, `${name}: ${JSON.stringify(sdk)}`);
    t.same(await c.oursCheck(check, 'HIGHER_CONSISTENCY'), await c.sdkCheck(check, 'HIGHER_CONSISTENCY'), `${name}, HIGHER_CONSISTENCY`);
  }
  t.match(await c.oursCheck(CHECKS[0]![1]), { allowed: true }, 'the cases cover allowed...');
  t.match(await c.oursCheck(CHECKS[1]![1]), { allowed: false }, '...denied...');
  t.match(await c.oursCheck(CHECKS[3]![1]), { error: { kind: 'bad_request' } }, '...and invalid checks');
});

t.test('BatchCheck: the same answers and per-check errors', async (t) => {
  const ep = await fgaServer(t);
  const c = clients(t, ep);
  const checks = CHECKS.map(([, check]) => check).filter((ch) => ch.contextualTuples === undefined);
  const sdk = await c.sdkBatch(checks);
  t.same(await c.oursBatch(checks), sdk, JSON.stringify(sdk));
  t.ok(Array.isArray(sdk) && sdk.some((o) => 'error' in o) && sdk.some((o) => 'allowed' in o && o.allowed), 'mixed answers and errors');
  // The SDK splits longer lists into batches of 50 itself; the remote checker does the same before calling FgaClient.
  const full = Array.from({ length: 50 }, (_, i) => ({ user: 'user:alice', relation: i % 2 ? 'viewer' : 'can_read', object: `project:p${i}` }));
  t.same(await c.oursBatch(full), await c.sdkBatch(full), 'a full batch of 50');
});

t.test('an unknown store or model: the same errors', async (t) => {
  const ep = await fgaServer(t);
  const check = CHECKS[0]![1];
  const wrongStore = clients(t, { ...ep, storeId: '01ARZ3NDEKTSV4RRFFQ69G5FAV' });
  const sdk = await wrongStore.sdkCheck(check);
  t.match(sdk, { error: { kind: 'not_found' } }, JSON.stringify(sdk));
  t.same(await wrongStore.oursCheck(check), sdk);
  t.same(await wrongStore.oursBatch([check, check]), await wrongStore.sdkBatch([check, check]));
  const wrongModel = clients(t, { ...ep, modelId: '01ARZ3NDEKTSV4RRFFQ69G5FAV' });
  t.same(await wrongModel.oursCheck(check), await wrongModel.sdkCheck(check));
});

t.test('preshared key: the header both send, and the same 401 without it', async (t) => {
  const ep = await fgaServer(t, 'sekrit-key');
  const check = CHECKS[0]![1];
  const right = clients(t, ep, { apiToken: 'sekrit-key' });
  t.same(await right.oursCheck(check), { allowed: true });
  t.same(await right.sdkCheck(check), { allowed: true });
  for (const [name, auth] of [['wrong key', { apiToken: 'nope' }], ['no key', {}]] as const) {
    const c = clients(t, ep, auth);
    const sdk = await c.sdkCheck(check);
    t.match(sdk, { error: { kind: 'auth' } }, `${name}: ${JSON.stringify(sdk)}`);
    t.same(await c.oursCheck(check), sdk, name);
  }
});

t.test('client credentials: one token exchange reused, a new one when it expires', async (t) => {
  const ep = await fgaServer(t, 'issued-token');
  let exchanges = 0;
  let expiresIn = 3600;
  const forms: URLSearchParams[] = [];
  const issuer: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      exchanges++;
      forms.push(new URLSearchParams(body));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ access_token: 'issued-token', expires_in: expiresIn, token_type: 'Bearer' }));
    });
  });
  await new Promise<void>((r) => issuer.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => issuer.close(() => r())));
  const cc = {
    api_token_issuer: `http://127.0.0.1:${(issuer.address() as { port: number }).port}`,
    api_audience: 'https://api.fga.example/', client_id: 'sidecar', client_secret: 'shh',
  };
  const c = clients(t, ep, { cc });
  const check = CHECKS[0]![1];
  for (let i = 0; i < 3; i++) t.same(await c.oursCheck(check), { allowed: true });
  t.equal(exchanges, 1, 'three checks, one token exchange');
  t.equal(forms[0]!.get('grant_type'), 'client_credentials');
  t.equal(forms[0]!.get('client_id'), 'sidecar');
  t.equal(forms[0]!.get('audience'), 'https://api.fga.example/');

  // A token inside the SDK's refresh margin (5 min + jitter) is exchanged again before use.
  const short = clients(t, ep, { cc });
  expiresIn = 1;
  const before = exchanges;
  t.same(await short.oursCheck(check), { allowed: true });
  t.same(await short.oursCheck(check), { allowed: true });
  t.equal(exchanges - before, 2, 'an expiring token is refreshed');
});
