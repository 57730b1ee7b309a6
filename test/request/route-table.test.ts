import t from 'tap';
import { routeSchema, type RouteConfig } from '../../src/config/schema.js';
import { StageRegistry } from '../../src/decision/stage-registry.js';
import type { AuthzRequest, Stage } from '../../src/decision/types.js';
import { compileRoutes } from '../../src/request/route-table.js';
import { authzRequest, principal } from '../support/principals.js';

// Trivial stages: each records the options and context it was built with.
interface BuiltStage extends Stage {
  readonly options: unknown;
  readonly ctx: unknown;
}
function registry(): StageRegistry {
  const r = new StageRegistry();
  for (const name of ['tenant', 'rbac', 'rebac']) {
    r.register({
      name,
      create(options, ctx): BuiltStage {
        if (name === 'rebac' && (options as { relation?: unknown } | undefined)?.relation === undefined) {
          throw new Error('rebac needs a relation');
        }
        return { name, options, ctx, evaluate: () => ({ kind: 'allow' }) };
      },
    });
  }
  return r;
}

/** Routes as a user writes them in YAML; the schema fills in defaults. */
const routes = (...raw: unknown[]): RouteConfig[] => raw.map((r) => routeSchema.parse(r));
const req = (method: string, path: string, extra: Partial<AuthzRequest> = {}) =>
  authzRequest({ method, path, rawPath: path, ...extra });

t.test('literal, param and wildcard patterns', async (t) => {
  const table = compileRoutes(
    routes(
      { name: 'deploy', match: { method: 'POST', path: '/api/v1/tenants/:tenant/projects/:project/deploy' },
        action: 'deploy', resource: { type: 'project', id: ':project', tenant: ':tenant' } },
      { name: 'health', match: { path: '/healthz' }, action: 'read', resource: { type: 'health' }, anonymous: true, stages: [] },
      { name: 'files', match: { method: 'GET', path: '/files/*' }, action: 'read', resource: { type: 'file', id: ':*' } },
      { name: 'custom', match: { method: 'POST', path: '/v1/projects/:id/jobs:run' }, action: 'run', resource: { type: 'job', id: ':id' } },
    ),
    registry(),
  );

  const m = table.match(req('POST', '/api/v1/tenants/acme/projects/p1/deploy'));
  t.equal(m?.route.name, 'deploy');
  t.same(m?.params, { tenant: 'acme', project: 'p1' });

  t.equal(table.match(req('GET', '/healthz'))?.route.name, 'health', 'no method means any method');
  t.equal(table.match(req('DELETE', '/healthz'))?.route.name, 'health');
  t.equal(table.match(req('GET', '/healthz/'))?.route.name, 'health', 'a trailing slash is not significant');

  t.same(table.match(req('GET', '/files/a/b/c.txt'))?.params, { '*': 'a/b/c.txt' });
  t.same(table.match(req('GET', '/files'))?.params, { '*': '' }, '`*` also matches nothing, so /files cannot dodge the route');
  t.equal(table.match(req('GET', '/filesystem')), undefined, 'literals match whole segments');

  t.same(table.match(req('POST', '/v1/projects/p9/jobs:run'))?.params, { id: 'p9' }, "':' inside a segment is literal");

  t.equal(table.match(req('POST', '/api/v1/tenants/acme/projects/p1')), undefined, 'too few segments');
  t.equal(table.match(req('POST', '/api/v1/tenants/acme/projects/p1/deploy/x')), undefined, 'too many segments');
  t.equal(table.match(req('GET', '/api/v1/tenants/acme/projects/p1/deploy')), undefined, 'wrong method');
  t.equal(table.match(req('GET', '/nothing/here')), undefined, 'no route');
});

t.test('params match exactly one non-empty segment and are not decoded further', async (t) => {
  const table = compileRoutes(
    routes({ match: { path: '/users/:id' }, action: 'read', resource: { type: 'user', id: ':id' } }),
    registry(),
  );
  t.same(table.match(req('GET', '/users/a%20b'))?.params, { id: 'a%20b' });
  t.equal(table.match(req('GET', '/users/'))?.route, undefined);
  t.equal(table.match(req('GET', '/users/a/b')), undefined);
});

t.test('methods: one, a list or *, compared case-insensitively', async (t) => {
  const table = compileRoutes(
    routes(
      { name: 'write', match: { method: ['put', 'PATCH'], path: '/doc' }, action: 'write', resource: { type: 'doc' } },
      { name: 'any', match: { method: '*', path: '/doc' }, action: 'read', resource: { type: 'doc' } },
    ),
    registry(),
  );
  t.equal(table.match(req('PUT', '/doc'))?.route.name, 'write');
  t.equal(table.match(req('patch', '/doc'))?.route.name, 'write');
  t.equal(table.match(req('GET', '/doc'))?.route.name, 'any');
  t.equal(table.match(req('PROPFIND', '/doc'))?.route.name, 'any', 'a method no route names still reaches * routes');
});

t.test('host: exact or *.suffix, without port, case-insensitive', async (t) => {
  const table = compileRoutes(
    routes(
      { name: 'admin-host', match: { path: '/x', host: 'Admin.Example.com' }, action: 'a', resource: { type: 't' } },
      { name: 'tenant-hosts', match: { path: '/x', host: '*.example.com' }, action: 'b', resource: { type: 't' } },
      { name: 'anywhere', match: { path: '/x' }, action: 'c', resource: { type: 't' } },
    ),
    registry(),
  );
  t.equal(table.match(req('GET', '/x', { host: 'admin.example.com:8443' }))?.route.name, 'admin-host');
  t.equal(table.match(req('GET', '/x', { host: 'ADMIN.EXAMPLE.COM.' }))?.route.name, 'admin-host');
  t.equal(table.match(req('GET', '/x', { host: 'acme.example.com' }))?.route.name, 'tenant-hosts');
  t.equal(table.match(req('GET', '/x', { host: 'a.b.example.com' }))?.route.name, 'tenant-hosts');
  t.equal(table.match(req('GET', '/x', { host: 'example.com' }))?.route.name, 'anywhere', '*.example.com needs a label');
  t.equal(table.match(req('GET', '/x', { host: 'evilexample.com' }))?.route.name, 'anywhere');
  t.equal(table.match(req('GET', '/x', { host: '' }))?.route.name, 'anywhere');
});

t.test('the first matching route in config order wins, across index buckets', async (t) => {
  const table = compileRoutes(
    routes(
      { name: 'param-first', match: { path: '/:section/special' }, action: 'a', resource: { type: 't' } },
      { name: 'literal', match: { path: '/docs/special' }, action: 'b', resource: { type: 't' } },
      { name: 'literal-other', match: { path: '/docs/other' }, action: 'c', resource: { type: 't' } },
      { name: 'catch-all', match: { path: '/*' }, action: 'd', resource: { type: 't' } },
      { name: 'never', match: { path: '/docs/late' }, action: 'e', resource: { type: 't' } },
    ),
    registry(),
  );
  t.equal(table.match(req('GET', '/docs/special'))?.route.name, 'param-first');
  t.equal(table.match(req('GET', '/docs/other'))?.route.name, 'literal-other');
  t.equal(table.match(req('GET', '/docs/late'))?.route.name, 'catch-all', 'an earlier wildcard shadows a later literal');
  t.equal(table.match(req('GET', '/'))?.route.name, 'catch-all');
  t.same(table.match(req('GET', '/a/b'))?.params, { '*': 'a/b' });
});

t.test('config order holds across literal, parameter and wildcard branches', async (t) => {
  const table = compileRoutes(
    routes(
      { name: 'post-only', match: { method: 'POST', path: '/p/:id' }, action: 'a', resource: { type: 't' } },
      { name: 'rest-under-p', match: { method: 'GET', path: '/p/*' }, action: 'b', resource: { type: 't' } },
      { name: 'literal-p-x', match: { path: '/p/x' }, action: 'c', resource: { type: 't' } },
      { name: 'deep-literal', match: { path: '/p/x/y' }, action: 'd', resource: { type: 't' } },
      { name: 'deep-param', match: { path: '/p/:a/:b' }, action: 'e', resource: { type: 't' } },
    ),
    registry(),
  );
  t.equal(table.match(req('POST', '/p/x'))?.route.name, 'post-only');
  t.same(table.match(req('POST', '/p/x'))?.params, { id: 'x' });
  t.equal(table.match(req('GET', '/p/x'))?.route.name, 'rest-under-p', 'an earlier wildcard beats a later literal');
  t.equal(table.match(req('DELETE', '/p/x'))?.route.name, 'literal-p-x', 'routes refused by method are skipped');
  t.equal(table.match(req('DELETE', '/p/x/y'))?.route.name, 'deep-literal');
  t.same(table.match(req('DELETE', '/p/q/y'))?.params, { a: 'q', b: 'y' });
  t.equal(table.match(req('DELETE', '/p')), undefined);
});

t.test('many routes: order semantics hold and each route is reachable', async (t) => {
  const raw: unknown[] = [];
  for (let i = 0; i < 300; i++) {
    raw.push({ name: `r${i}`, match: { method: i % 2 ? 'GET' : ['POST', 'PUT'], path: `/svc${i % 50}/items/:id/op${i}` },
      action: 'x', resource: { type: 't', id: ':id' } });
  }
  raw.push({ name: 'fallback', match: { path: '/svc1/*' }, action: 'x', resource: { type: 't' } });
  const table = compileRoutes(routes(...raw), registry());
  t.equal(table.routes.length, 301);
  for (const i of [0, 1, 49, 50, 151, 299]) {
    const method = i % 2 ? 'GET' : 'PUT';
    const m = table.match(req(method, `/svc${i % 50}/items/7/op${i}`));
    t.equal(m?.route.name, `r${i}`);
    t.same(m?.params, { id: '7' });
  }
  t.equal(table.match(req('DELETE', '/svc1/items/7/op1'))?.route.name, 'fallback');
  t.equal(table.match(req('GET', '/svc2/items/7/op1')), undefined);
});

t.test('compiled route fields and stages', async (t) => {
  const r = registry();
  const table = compileRoutes(
    routes(
      { name: 'deploy', match: { method: 'POST', path: '/p/:project' }, action: 'deploy',
        resource: { type: 'project', id: ':project' }, enforcement: 'dryrun', deadline_ms: 80,
        stages: ['tenant', { rebac: { relation: 'can_deploy' } }] },
      { match: { method: ['GET', 'HEAD'], path: '/open' }, action: 'read', resource: { type: 'page' },
        anonymous: true, stages: [] },
      { match: { path: '/default' }, action: 'read', resource: { type: 'page' } },
    ),
    r,
  );
  const [deploy, open, dflt] = table.routes;
  t.match(deploy, { name: 'deploy', action: 'deploy', anonymous: false, enforcement: 'dryrun', deadlineMs: 80,
    explicitlyNoStages: false });
  t.same(deploy!.stages.map((s) => s.name), ['tenant', 'rebac']);
  t.same((deploy!.stages[1] as BuiltStage).options, { relation: 'can_deploy' });
  t.same((deploy!.stages[1] as BuiltStage).ctx, { route: 'deploy', resourceType: 'project', action: 'deploy' });
  t.match(open, { name: 'GET,HEAD /open', anonymous: true, explicitlyNoStages: true, enforcement: undefined });
  t.equal(open!.stages.length, 0);
  t.equal(dflt!.name, '* /default');
  t.same(dflt!.stages.map((s) => s.name), ['tenant', 'rbac'], 'schema default stages');
  t.equal(dflt!.explicitlyNoStages, false);
});

t.test('resource id and tenant from each source', async (t) => {
  const table = compileRoutes(
    routes(
      { name: 'param', match: { path: '/t/:tenant/p/:project' }, action: 'read',
        resource: { type: 'project', id: ':project', tenant: ':tenant' } },
      { name: 'header', match: { path: '/h/:id' }, action: 'read', resource: { type: 'doc', id: ':id', tenant: 'header:X-Tenant-Id' } },
      { name: 'host', match: { path: '/host' }, action: 'read', resource: { type: 'site', id: 'home', tenant: 'host' } },
      { name: 'principal', match: { path: '/me/*' }, action: 'read', resource: { type: 'profile' } },
      { name: 'literal', match: { path: '/shared' }, action: 'read', resource: { type: 'doc', id: 'board', tenant: 'platform' } },
      { name: 'rest-id', match: { path: '/files/*' }, action: 'read', resource: { type: 'file', id: ':*' } },
    ),
    registry(),
  );
  const who = principal({ tenant: 'acme' });
  const resolve = (r: AuthzRequest) => {
    const m = table.match(r);
    if (m === undefined) throw new Error(`no route for ${r.path}`);
    return m.route.resolveResource(r, m.params, who);
  };

  t.same(resolve(req('GET', '/t/globex/p/p7')), { kind: 'ok', resource: { type: 'project', id: 'p7', tenant: 'globex' } });

  const withHeader = (...values: string[]) =>
    req('GET', '/h/d1', {
      headers: values.length ? { 'x-tenant-id': values.join(',') } : {},
      headerList: values.map((v) => ['x-tenant-id', v] as const),
    });
  t.same(resolve(withHeader('globex')), { kind: 'ok', resource: { type: 'doc', id: 'd1', tenant: 'globex' } });
  t.same(resolve(withHeader('globex', 'acme')), { kind: 'error', reason: 'ambiguous_tenant' }, 'header sent twice');
  t.same(resolve(req('GET', '/h/d1', { headers: { 'x-tenant-id': 'globex,acme' }, headerList: [['x-tenant-id', 'globex,acme']] })),
    { kind: 'error', reason: 'ambiguous_tenant' }, 'one header listing two tenants');
  t.same(resolve(withHeader()), { kind: 'error', reason: 'no_resource_tenant' }, 'header missing');
  t.same(resolve(withHeader(' ')), { kind: 'error', reason: 'no_resource_tenant' }, 'header blank');

  t.same(resolve(req('GET', '/host', { host: 'Acme.api.example.com:443' })),
    { kind: 'ok', resource: { type: 'site', id: 'home', tenant: 'acme' } });
  t.same(resolve(req('GET', '/host', { host: '' })), { kind: 'error', reason: 'no_resource_tenant' });
  t.same(resolve(req('GET', '/host', { host: '10.0.0.1:80' })), { kind: 'error', reason: 'no_resource_tenant' }, 'an IP has no tenant label');

  t.same(resolve(req('GET', '/me/settings')), { kind: 'ok', resource: { type: 'profile', id: '/me/settings', tenant: 'acme' } },
    'default id is the normalized path, default tenant the principal');
  t.same(resolve(req('GET', '/shared')), { kind: 'ok', resource: { type: 'doc', id: 'board', tenant: 'platform' } });
  t.same(resolve(req('GET', '/files/a/b')), { kind: 'ok', resource: { type: 'file', id: 'a/b', tenant: 'acme' } });
  t.same(resolve(req('GET', '/files')), { kind: 'error', reason: 'no_resource_id' }, 'an empty wildcard names no resource');
});

t.test('bad config fails with a message naming the route', async (t) => {
  const bad = (route: unknown, message: RegExp, why: string) =>
    t.throws(() => compileRoutes(routes({ name: 'ok', match: { path: '/ok' }, action: 'a', resource: { type: 't' } }, route), registry()),
      { message }, why);
  const base = { action: 'a', resource: { type: 't' } };
  bad({ ...base, name: 'twice', match: { path: '/a//b' } }, /^routes\[1\] "twice": path pattern "\/a\/\/b": empty segment/, 'empty segment');
  bad({ ...base, match: { path: '/a/' } }, /^routes\[1\]: path pattern "\/a\/": trailing "\/"/, 'trailing slash');
  bad({ ...base, match: { path: '/a/*/b' } }, /"\*" must be the last segment/, '* not last');
  bad({ ...base, match: { path: '/a/v*' } }, /only allowed as a whole, final segment/, 'partial *');
  bad({ ...base, match: { path: '/:id/x/:id' } }, /parameter ":id" appears twice/, 'duplicate param');
  bad({ ...base, match: { path: '/:1x' } }, /parameter ":1x"/, 'bad param name');
  bad({ ...base, match: { path: '/:__proto__' } }, /parameter ":__proto__"/, 'prototype param name');
  bad({ ...base, match: { path: '/a/../b' } }, /dot segments/, 'dot segment');
  bad({ ...base, match: { path: '/a%2Fb' } }, /encoded_slash/, 'encoded slash literal');
  bad({ action: 'a', match: { path: '/p/:project' }, resource: { type: 't', id: ':proj' } },
    /resource\.id ":proj": the path pattern declares no parameter "proj" \(declared: :project\)/, 'unknown id param');
  bad({ action: 'a', match: { path: '/p' }, resource: { type: 't', tenant: ':tenant' } },
    /resource\.tenant ":tenant": .*declared: none/, 'unknown tenant param');
  bad({ ...base, resource: { type: 't', tenant: 'hdr:x' }, match: { path: '/p' } }, /unknown source/, 'typo in tenant source');
  bad({ ...base, resource: { type: 't', tenant: 'header:' }, match: { path: '/p' } }, /not a valid header name/, 'empty header name');
  bad({ ...base, match: { path: '/p', method: 'GE T' } }, /method "GE T"/, 'bad method');
  bad({ ...base, match: { path: '/p', host: 'api.example.com:443' } }, /without port/, 'host with port');
  bad({ ...base, match: { path: '/p', host: 'api.*.com' } }, /leading "\*\." wildcard/, 'inner wildcard');
  bad({ ...base, name: 'ok', match: { path: '/p' } }, /^routes\[1\] "ok": duplicate route name "ok"/, 'duplicate name');
  bad({ ...base, name: 'st', match: { path: '/p' }, stages: ['nope'] }, /^routes\[1\] "st": route st: unknown stage "nope" \(known: tenant, rbac, rebac\)/, 'unknown stage');
  bad({ ...base, name: 'st', match: { path: '/p' }, stages: [{ rebac: {} }] }, /^routes\[1\] "st": route st: stage rebac: rebac needs a relation/, 'stage options');
});
