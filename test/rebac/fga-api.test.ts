// `fga serve`'s HTTP API, driven the way its users drive it: @openfga/sdk over
// real HTTP for the happy paths and OpenFGA's error codes, raw HTTP for the
// JSON shapes and malformed requests.
import t from 'tap';
import { request } from 'undici';
import { OpenFgaClient, FgaApiValidationError, FgaApiNotFoundError, CredentialsMethod } from '@openfga/sdk';
import { transformer } from '@openfga/syntax-transformer';
import { createLogger } from '../../src/observability/logger.js';
import { startFgaApiServer } from '../../src/rebac/fga-api/server.js';
import { loadEmbeddedStore } from '../../src/rebac/embedded/index.js';

const log = createLogger('silent');
const MODEL = transformer.transformDSLToJSONObject(`model
  schema 1.1
type user
type doc
  relations
    define owner: [user]
    define viewer: [user, user with weekday] or owner
condition weekday(day: string) {
  day != "sunday"
}
`);

async function raw(port: number, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await request(`http://127.0.0.1:${port}${path}`, {
    method: method as 'GET',
    headers: { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.body.text();
  return { status: res.statusCode, json: text ? (JSON.parse(text) as Record<string, unknown>) : undefined, headers: res.headers };
}

t.test('stores, models, write, read, check, batch-check and changes through the SDK', async (t) => {
  const server = await startFgaApiServer({ host: '127.0.0.1', port: 0, log });
  t.teardown(() => server.close());
  const apiUrl = `http://127.0.0.1:${server.port}`;
  const admin = new OpenFgaClient({ apiUrl });
  const created = await admin.createStore({ name: 'api-test' });
  t.match(created, { id: /^[0-9A-Z]{26}$/, name: 'api-test', created_at: String, updated_at: String });
  t.match((await admin.listStores()).stores, [{ id: created.id }]);

  const client = new OpenFgaClient({ apiUrl, storeId: created.id });
  t.match(await client.getStore(), { id: created.id, name: 'api-test' });
  const { authorization_model_id: modelId } = await client.writeAuthorizationModel(MODEL);
  const got = await client.readAuthorizationModel({ authorizationModelId: modelId });
  t.equal(got.authorization_model?.id, modelId);
  t.equal((await client.readAuthorizationModels()).authorization_models[0]?.id, modelId);
  t.equal((await client.readLatestAuthorizationModel()).authorization_model?.id, modelId);

  await client.write({
    writes: [
      { user: 'user:ann', relation: 'owner', object: 'doc:1' },
      { user: 'user:bo', relation: 'viewer', object: 'doc:1', condition: { name: 'weekday' } },
    ],
  });
  t.equal((await client.check({ user: 'user:ann', relation: 'viewer', object: 'doc:1' })).allowed, true);
  t.equal((await client.check({ user: 'user:bo', relation: 'viewer', object: 'doc:1', context: { day: 'monday' } })).allowed, true);
  t.equal((await client.check({ user: 'user:bo', relation: 'viewer', object: 'doc:1', context: { day: 'sunday' } })).allowed, false);
  t.equal(
    (await client.check({ user: 'user:cy', relation: 'viewer', object: 'doc:1', contextualTuples: [{ user: 'user:cy', relation: 'owner', object: 'doc:1' }] })).allowed,
    true,
  );

  const batch = await client.batchCheck({
    checks: [
      { user: 'user:ann', relation: 'viewer', object: 'doc:1', correlationId: 'a' },
      { user: 'user:zed', relation: 'viewer', object: 'doc:1', correlationId: 'b' },
      { user: 'user:bo', relation: 'viewer', object: 'doc:1', correlationId: 'c' },
      { user: 'user:ann', relation: 'nope', object: 'doc:1', correlationId: 'd' },
    ],
  });
  const byId = Object.fromEntries(batch.result.map((r) => [r.correlationId, r]));
  t.equal(byId.a?.allowed, true);
  t.equal(byId.b?.allowed, false);
  t.match(byId.c?.error, { input_error: 'validation_error', message: /missing context parameters/ });
  t.match(byId.d?.error, { input_error: 'validation_error', message: /relation 'doc#nope' not found/ });

  const read = await client.read({ object: 'doc:1' });
  t.same(read.tuples.map((x) => x.key.user).sort(), ['user:ann', 'user:bo']);
  t.match(read.tuples.find((x) => x.key.user === 'user:bo')?.key.condition, { name: 'weekday' });

  const changes = await client.readChanges({ type: '' }, { pageSize: 1 });
  t.equal(changes.changes.length, 1);
  t.equal(changes.changes[0]?.operation, 'TUPLE_OPERATION_WRITE');
  const rest = await client.readChanges({ type: '' }, { pageSize: 50, continuationToken: changes.continuation_token });
  t.equal(rest.changes.length, 1);
  await client.write({ deletes: [{ user: 'user:ann', relation: 'owner', object: 'doc:1' }] });
  const after = await client.readChanges({ type: '' }, { continuationToken: rest.continuation_token });
  t.match(after.changes, [{ operation: 'TUPLE_OPERATION_DELETE', tuple_key: { user: 'user:ann', object: 'doc:1' } }]);
  t.equal((await client.check({ user: 'user:ann', relation: 'viewer', object: 'doc:1' })).allowed, false, 'revoked');

  // OpenFGA's errors, as the SDK surfaces them.
  const err = await client.write({ writes: [{ user: 'user:bo', relation: 'viewer', object: 'doc:1', condition: { name: 'weekday' } }] }).catch((e: unknown) => e);
  t.ok(err instanceof FgaApiValidationError);
  t.equal((err as FgaApiValidationError).apiErrorCode, 'write_failed_due_to_invalid_input');
  const del = await client.write({ deletes: [{ user: 'user:nobody', relation: 'owner', object: 'doc:1' }] }).catch((e: unknown) => e);
  t.equal((del as FgaApiValidationError).apiErrorCode, 'write_failed_due_to_invalid_input');
  const badTuple = await client.write({ writes: [{ user: 'user:x', relation: 'owner', object: 'folder:1' }] }).catch((e: unknown) => e);
  t.match(badTuple, { apiErrorCode: 'validation_error', apiErrorMessage: /type 'folder' not found/ });
  const badModel = await client.writeAuthorizationModel({ schema_version: '1.1', type_definitions: [{ type: 'doc', relations: { viewer: { computedUserset: { relation: 'ghost' } } } }] }).catch((e: unknown) => e);
  t.match(badModel, { apiErrorCode: 'invalid_authorization_model', apiErrorMessage: /ghost/ });
  const missing = new OpenFgaClient({ apiUrl, storeId: '01ARZ3NDEKTSV4RRFFQ69G5FAV' });
  const nf = await missing.check({ user: 'user:a', relation: 'viewer', object: 'doc:1' }).catch((e: unknown) => e);
  t.ok(nf instanceof FgaApiNotFoundError);
  t.equal((nf as FgaApiNotFoundError).apiErrorCode, 'store_id_not_found');
});

t.test('raw HTTP: JSON shapes and malformed requests', async (t) => {
  const src = loadEmbeddedStore({ modelPath: 'config/fga/model.fga', tuplesPath: 'config/fga/tuples.yaml' });
  const server = await startFgaApiServer({ host: '127.0.0.1', port: 0, log, store: src.store });
  t.teardown(() => server.close());
  const id = src.store.id;
  const ok = await raw(server.port, 'POST', `/stores/${id}/check`, { tuple_key: { user: 'user:alice', relation: 'can_deploy', object: 'project:acme-web' } });
  t.equal(ok.status, 200);
  t.same(ok.json, { allowed: true, resolution: '' });
  t.equal(ok.headers['openfga-authorization-model-id'], src.store.getModel().id);
  const badJson = await raw(server.port, 'POST', `/stores/${id}/check`, '{"tuple_key":');
  t.equal(badJson.status, 400);
  t.match(badJson.json, { code: 'validation_error', message: /not valid JSON/ });
  const badObject = await raw(server.port, 'POST', `/stores/${id}/check`, { tuple_key: { user: 'user:a', relation: 'can_read', object: 'project' } });
  t.match(badObject, { status: 400, json: { code: 'validation_error', message: /'object' field format/ } });
  const noStore = await raw(server.port, 'GET', '/stores/01ARZ3NDEKTSV4RRFFQ69G5FAV');
  t.match(noStore, { status: 404, json: { code: 'store_id_not_found' } });
  const unknown = await raw(server.port, 'GET', '/nowhere');
  t.match(unknown, { status: 404, json: { code: 'undefined_endpoint' } });
  const wrongMethod = await raw(server.port, 'DELETE', `/stores/${id}/check`);
  t.equal(wrongMethod.status, 405);
  const pageBad = await raw(server.port, 'GET', `/stores/${id}/changes?page_size=0`);
  t.match(pageBad, { status: 400, json: { code: 'page_size_invalid' } });
  const changes = await raw(server.port, 'GET', `/stores/${id}/changes?type=project&page_size=100`);
  t.equal(changes.status, 200);
  t.ok((changes.json?.changes as unknown[]).length >= 3);
  t.type(changes.json?.continuation_token, 'string');
  const batchDup = await raw(server.port, 'POST', `/stores/${id}/batch-check`, {
    checks: [
      { tuple_key: { user: 'user:a', relation: 'can_read', object: 'project:x' }, correlation_id: '1' },
      { tuple_key: { user: 'user:a', relation: 'can_read', object: 'project:x' }, correlation_id: '1' },
    ],
  });
  t.match(batchDup, { status: 400, json: { code: 'validation_error', message: /duplicate correlation_id/ } });
  const tooMany = await raw(server.port, 'POST', `/stores/${id}/write`, {
    writes: { tuple_keys: Array.from({ length: 101 }, (_, i) => ({ user: `user:u${i}`, relation: 'viewer', object: 'project:x' })) },
  });
  t.match(tooMany, { status: 400, json: { code: 'exceeded_entity_limit' } });
  const del = await raw(server.port, 'DELETE', `/stores/${id}`);
  t.equal(del.status, 204);
  t.equal((await raw(server.port, 'GET', `/stores/${id}`)).status, 404);
});

t.test('API token and injected latency', async (t) => {
  const server = await startFgaApiServer({ host: '127.0.0.1', port: 0, log, apiToken: 's3cret', latencyMs: 2 });
  t.teardown(() => server.close());
  const denied = await raw(server.port, 'GET', '/stores');
  t.match(denied, { status: 401, json: { code: 'unauthenticated' } });
  const wrong = await raw(server.port, 'GET', '/stores', undefined, { authorization: 'Bearer nope' });
  t.equal(wrong.status, 401);
  const client = new OpenFgaClient({
    apiUrl: `http://127.0.0.1:${server.port}`,
    credentials: { method: CredentialsMethod.ApiToken, config: { token: 's3cret' } },
  });
  const s = await client.createStore({ name: 'with-token' });
  t.match(s, { id: String });
});

t.test('fga serve: args, files loaded into a store, SDK check against it', async (t) => {
  const { parseFgaServeArgs, serveFga } = await import('../../src/rebac/fga-api/serve.js');
  t.same(parseFgaServeArgs(['--port', '0', '--model', 'config/fga/model.fga', '--tuples', 'config/fga/tuples.yaml', '--latency-ms', '2']), {
    host: '127.0.0.1',
    port: 0,
    modelPath: 'config/fga/model.fga',
    tuplesPath: 'config/fga/tuples.yaml',
    latencyMs: 2,
  });
  t.throws(() => parseFgaServeArgs(['--port', 'abc']), { name: 'FgaServeArgsError', message: /--port must be an integer/ });
  t.throws(() => parseFgaServeArgs(['--tuples', 'x.yaml']), { message: /--tuples needs --model/ });
  t.throws(() => parseFgaServeArgs(['--bogus']), { message: /unknown option/ });
  const running = await serveFga({ host: '127.0.0.1', port: 0, modelPath: 'config/fga/model.fga', tuplesPath: 'config/fga/tuples.yaml', watchIntervalMs: 0, log });
  t.teardown(() => running.close());
  const client = new OpenFgaClient({ apiUrl: `http://127.0.0.1:${running.port}`, storeId: running.storeId! });
  t.equal((await client.check({ user: 'user:alice', relation: 'can_deploy', object: 'project:acme-web' })).allowed, true);
  t.equal((await client.check({ user: 'user:carol', relation: 'can_deploy', object: 'project:acme-web' })).allowed, false);
  await t.rejects(serveFga({ host: '127.0.0.1', port: 0, modelPath: 'config/fga/does-not-exist.fga', log }), { message: /cannot read model file/ });
});
