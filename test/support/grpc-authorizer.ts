// A real Authorizer behind our gRPC server, with a hand-written route table
// and identity resolver small enough to reason about: every /api/ route needs
// an identity, and the only identity is one exact bearer token.
import { Authorizer } from '../../src/decision/authorizer.js';
import type { CompiledRoute, IdentityResolver, IdentityResult, RouteMatcher } from '../../src/decision/interfaces.js';
import type { AuthzRequest, Principal, Stage } from '../../src/decision/types.js';
import { SidecarMetrics } from '../../src/observability/metrics.js';
import { silentLog, startStubServer } from './grpc-server.js';

export const VALID_TOKEN = 'Bearer valid-token-6f1c2a';

const alice: Principal = Object.freeze({
  id: 'alice', kind: 'user', tenant: 'acme', roles: Object.freeze(['editor']), claims: Object.freeze({}), source: 'jwt',
});

/** Allows only the principal the resolver produced; a stand-in for RBAC. */
const gate: Stage = {
  name: 'gate',
  evaluate: (_req, ctx) => (ctx.principal.id === 'alice' ? { kind: 'allow', headers: { 'x-gate': 'passed' } } : { kind: 'deny', status: 403, reason: 'gate_denied' }),
};

/** Async on purpose: identity from a cache miss is a promise in real life. */
const slowGate: Stage = {
  name: 'slow_gate',
  evaluate: async (_req, ctx) => (ctx.principal.id === 'alice' ? { kind: 'allow' } : { kind: 'deny', status: 403, reason: 'gate_denied' }),
};

function route(name: string, stages: Stage[]): CompiledRoute {
  return {
    name,
    action: 'read',
    anonymous: false,
    enforcement: undefined,
    deadlineMs: undefined,
    stages,
    explicitlyNoStages: false,
    resolveResource: (req, _params, principal) => ({ kind: 'ok', resource: { type: 'thing', id: req.path, tenant: principal.tenant } }),
  };
}

const apiRoute = route('api', [gate]);
const slowRoute = route('slow', [slowGate]);

export const routes: RouteMatcher = {
  match(req: AuthzRequest) {
    if (req.path.startsWith('/api/slow/')) return { route: slowRoute, params: {} };
    if (req.path.startsWith('/api/')) return { route: apiRoute, params: {} };
    return undefined;
  },
};

export const identity: IdentityResolver = {
  identify(req: AuthzRequest): IdentityResult | Promise<IdentityResult> {
    const values = req.headerList.filter(([name]) => name === 'authorization');
    let result: IdentityResult;
    if (values.length === 0) result = { kind: 'none' };
    else if (values.length === 1 && values[0]![1] === VALID_TOKEN) result = { kind: 'principal', principal: alice };
    else result = { kind: 'invalid', reason: 'token_invalid' };
    return req.headers['x-async-identity'] === '1' ? Promise.resolve(result) : result;
  },
};

export function realAuthorizer(): Authorizer {
  return new Authorizer({
    routes, identity, enforcement: 'deny', deadlineMs: 1000,
    metrics: new SidecarMetrics({ defaultMetrics: false }), log: silentLog,
  });
}

export async function startAuthorizerServer(): Promise<{ port: number; close(): Promise<void>; authorizer: Authorizer }> {
  const authorizer = realAuthorizer();
  const server = await startStubServer((req, deadlineMs) => authorizer.decide(req, deadlineMs));
  return { ...server, authorizer };
}
