// The input document: OPA-Envoy's shape plus what the sidecar knows.
import t from 'tap';
import { buildPolicyInput, parsePath } from '../../src/policy/input.js';
import { authzRequest } from '../support/principals.js';
import { decisionContext } from './helpers.js';

// The input as the policy sees it: JSON. Typed loosely on purpose — the test asserts its shape.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;
const json = (v: unknown): Json => JSON.parse(JSON.stringify(v)) as Json;

t.test('OPA-Envoy attributes, parsed path and query, principal, resource, action, route', async (t) => {
  const req = authzRequest({
    method: 'POST',
    path: '/api/v1/tenants/acme/projects/p%201',
    query: { region: 'eu-west-1', tag: 'a,b' },
    headers: { 'x-region': 'eu-west-1' },
    source: { address: '10.0.0.1', port: 51000, principal: 'spiffe://cluster/ns/web/sa/web', labels: { app: 'web' } },
    contextExtensions: { cluster: 'c1' },
    filterMetadata: { 'envoy.filters.http.jwt_authn': { sub: 'alice' } },
  });
  const ctx = decisionContext('deploy');
  ctx.annotations.budget = { tenant: 'acme', cost: 0.05 };
  const input = json(buildPolicyInput(req, ctx));
  const http = input.attributes.request.http;
  t.equal(http.method, 'POST');
  t.equal(http.path, '/api/v1/tenants/acme/projects/p%201?region=eu-west-1&tag=a%2Cb');
  t.equal(http.query, 'region=eu-west-1&tag=a%2Cb');
  t.equal(http.host, 'api.example');
  t.equal(http.scheme, 'https');
  t.same(http.headers, { 'x-region': 'eu-west-1' });
  t.same(input.attributes.source.address.socketAddress, { address: '10.0.0.1', portValue: 51000 });
  t.equal(input.attributes.source.principal, 'spiffe://cluster/ns/web/sa/web');
  t.same(input.attributes.contextExtensions, { cluster: 'c1' });
  t.same(input.attributes.metadataContext.filterMetadata, { 'envoy.filters.http.jwt_authn': { sub: 'alice' } });
  t.same(input.parsed_path, ['api', 'v1', 'tenants', 'acme', 'projects', 'p 1']);
  t.same(input.parsed_query, { region: ['eu-west-1'], tag: ['a,b'] });
  t.same(input.principal, { id: 'alice', kind: 'user', tenant: 'acme', roles: ['viewer'], claims: {} });
  t.same(input.resource, { type: 'project', id: 'p1', tenant: 'acme' });
  t.equal(input.action, 'deploy');
  t.equal(input.route, 'test-route');
  t.same(input.route_params, { project: 'p1' });
  t.same(input.budget, { tenant: 'acme', cost: 0.05 });
  t.match(input.now, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'now: RFC 3339 UTC to the second');
});

t.test('no query, no budget, unknown tenant: stable shapes', async (t) => {
  const input = json(buildPolicyInput(authzRequest({ path: '/' }), decisionContext()));
  t.equal(input.attributes.request.http.path, '/');
  t.equal(input.attributes.request.http.query, '');
  t.same(input.parsed_path, []);
  t.same(input.parsed_query, {});
  t.notOk('budget' in input);
  t.equal(input.principal.tenant, 'acme');
  t.same(input.attributes.source.address.socketAddress, { address: '', portValue: 0 });
});

t.test('parsePath decodes segments and keeps undecodable ones', async (t) => {
  t.same(parsePath('/a//b/'), ['a', 'b']);
  t.same(parsePath('/a/%E2%82%AC'), ['a', '€']);
  t.same(parsePath('/a/%ZZ'), ['a', '%ZZ']);
});
