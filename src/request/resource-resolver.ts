// Compiles a route's `resource:` block into a function that names the resource
// a request targets and the tenant owning it. Every source is decided at
// config load, so a request only reads the one place its route points at.
import type { RouteConfig } from '../config/schema.js';
import type { ResourceResolution } from '../decision/interfaces.js';
import type { AuthzRequest, Principal } from '../decision/types.js';
import { hostWithoutPort, isIpLiteral } from './host.js';

export type ResourceResolver = (
  req: AuthzRequest,
  params: Readonly<Record<string, string>>,
  principal: Principal,
) => ResourceResolution;

type ValueSource = (req: AuthzRequest, params: Readonly<Record<string, string>>, principal: Principal) => string | undefined | Failure;

interface Failure {
  readonly kind: 'error';
  readonly reason: string;
}

const failure = (reason: string): Failure => Object.freeze({ kind: 'error', reason });
const NO_TENANT = failure('no_resource_tenant');
const AMBIGUOUS_TENANT = failure('ambiguous_tenant');
const NO_ID = failure('no_resource_id');

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;

export function compileResourceResolver(
  resource: RouteConfig['resource'],
  declaredParams: ReadonlySet<string>,
): ResourceResolver {
  const type = resource.type;
  const id = compileId(resource.id, declaredParams);
  const tenant = compileTenant(resource.tenant, declaredParams);
  return (req, params, principal) => {
    const resolvedId = id(req, params, principal);
    if (typeof resolvedId === 'object') return resolvedId;
    if (resolvedId === undefined || resolvedId === '') return NO_ID;
    const resolvedTenant = tenant(req, params, principal);
    if (typeof resolvedTenant === 'object') return resolvedTenant;
    return { kind: 'ok', resource: { type, id: resolvedId, tenant: resolvedTenant } };
  };
}

function compileId(spec: string | undefined, declared: ReadonlySet<string>): ValueSource {
  if (spec === undefined) return (req) => req.path;
  if (spec.startsWith(':')) return paramSource('resource.id', spec, declared, NO_ID);
  return () => spec;
}

function compileTenant(spec: string, declared: ReadonlySet<string>): ValueSource {
  if (spec.startsWith(':')) return paramSource('resource.tenant', spec, declared, NO_TENANT);
  if (spec === 'principal') return (_req, _params, principal) => principal.tenant;
  if (spec === 'host') return tenantFromHost;
  if (spec.startsWith('header:')) return tenantFromHeader(spec.slice('header:'.length).trim().toLowerCase(), spec);
  if (spec.includes(':')) {
    throw new Error(
      `resource.tenant "${spec}": unknown source (use ":param", "header:<name>", "host", "principal", or a literal tenant id without ":")`,
    );
  }
  return () => spec;
}

function paramSource(field: string, spec: string, declared: ReadonlySet<string>, missing: Failure): ValueSource {
  const name = spec.slice(1);
  if (!declared.has(name)) {
    const known = [...declared].map((p) => `:${p}`).join(', ') || 'none';
    throw new Error(`${field} "${spec}": the path pattern declares no parameter "${name}" (declared: ${known})`);
  }
  return (_req, params) => {
    const value = params[name];
    return value === undefined || value === '' ? missing : value;
  };
}

/** The first DNS label of the request's host: `acme.api.example.com` → `acme`. */
const tenantFromHost: ValueSource = (req) => {
  const host = hostWithoutPort(req.host);
  if (host === '' || isIpLiteral(host)) return NO_TENANT;
  const dot = host.indexOf('.');
  const label = dot === -1 ? host : host.slice(0, dot);
  return label === '' ? NO_TENANT : label;
};

/**
 * A tenant named by a request header. A header sent twice, or one value that
 * lists several (Envoy joins repeated headers with ','), names no single
 * tenant: the request is refused rather than judged against either.
 */
function tenantFromHeader(name: string, spec: string): ValueSource {
  if (!HEADER_NAME.test(name)) throw new Error(`resource.tenant "${spec}": "${name}" is not a valid header name`);
  return (req) => {
    let occurrences = 0;
    const list = req.headerList;
    for (let i = 0; i < list.length; i++) if (list[i]![0] === name) occurrences++;
    if (occurrences > 1) return AMBIGUOUS_TENANT;
    const value = req.headers[name]?.trim();
    if (value === undefined || value === '') return NO_TENANT;
    if (value.includes(',')) return AMBIGUOUS_TENANT;
    return value;
  };
}
