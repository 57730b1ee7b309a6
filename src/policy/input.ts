// The policy input document: what OPA's Envoy plugin gives a policy
// (input.attributes..., input.parsed_path, input.parsed_query) plus what the
// sidecar has already established (principal, resource, action, route, budget).
// Built once per evaluation on the hot path: it reuses the request's own
// objects (headers, query, labels) instead of copying them.
import type { AuthzRequest, DecisionContext, Peer } from '../decision/types.js';

const VERSION = Object.freeze({ ext_authz: 'v3', encoding: 'protojson' });

export interface PolicyInput {
  readonly attributes: {
    readonly source: PeerAttributes;
    readonly destination: PeerAttributes;
    readonly request: {
      readonly http: {
        readonly id: string;
        readonly method: string;
        /** Normalized path, with `?query` appended when there is one (Envoy's :path). */
        readonly path: string;
        readonly host: string;
        readonly scheme: string;
        readonly protocol: string;
        /** The query string without '?', re-encoded from the parsed parameters. */
        readonly query: string;
        readonly headers: Readonly<Record<string, string>>;
      };
    };
    readonly contextExtensions: Readonly<Record<string, string>>;
    readonly metadataContext: { readonly filterMetadata: Readonly<Record<string, unknown>> };
  };
  /** The normalized path split into segments ("/a/b" → ["a", "b"]). */
  readonly parsed_path: readonly string[];
  /** Each parameter as a one-element list (repeated parameters arrive joined with ','). */
  readonly parsed_query: Readonly<Record<string, readonly string[]>>;
  readonly principal: {
    readonly id: string;
    readonly kind: string;
    readonly tenant: string | null;
    readonly roles: readonly string[];
    readonly claims: Readonly<Record<string, unknown>>;
  };
  readonly resource: { readonly type: string; readonly id: string; readonly tenant: string | null };
  readonly action: string;
  readonly route: string;
  readonly route_params: Readonly<Record<string, string>>;
  /** ctx.annotations.budget when a budget stage ran before this one. */
  readonly budget?: unknown;
  /**
   * The time, RFC 3339 UTC to the second ("2025-01-01T00:00:00Z"): the
   * opa-wasm SDK offers no time.now_ns, and this form compares correctly as a
   * string against timestamps of the same form (e.g. an expiry in data).
   */
  readonly now: string;
  readonly version: typeof VERSION;
}

interface PeerAttributes {
  readonly address: { readonly socketAddress: { readonly address: string; readonly portValue: number } };
  readonly principal: string;
  readonly labels: Readonly<Record<string, string>>;
}

export function buildPolicyInput(req: AuthzRequest, ctx: DecisionContext): PolicyInput {
  const query = queryString(req.query);
  const p = ctx.principal;
  const input: PolicyInput = {
    attributes: {
      source: peer(req.source),
      destination: peer(req.destination),
      request: {
        http: {
          id: req.requestId,
          method: req.method,
          path: query === '' ? req.path : `${req.path}?${query}`,
          host: req.host,
          scheme: req.scheme,
          protocol: req.protocol,
          query,
          headers: req.headers,
        },
      },
      contextExtensions: req.contextExtensions,
      metadataContext: { filterMetadata: req.filterMetadata },
    },
    parsed_path: parsePath(req.path),
    parsed_query: parsedQuery(req.query),
    principal: { id: p.id, kind: p.kind, tenant: p.tenant ?? null, roles: p.roles, claims: p.claims },
    resource: { type: ctx.resource.type, id: ctx.resource.id, tenant: ctx.resource.tenant ?? null },
    action: ctx.action,
    route: ctx.route,
    route_params: ctx.routeParams,
    now: nowSecond(),
    version: VERSION,
  };
  const budget = ctx.annotations.budget;
  return budget === undefined ? input : { ...input, budget };
}

let cachedSecond = -1;
let cachedNow = '';

/** Formatting a date per request is wasteful at thousands of requests per second: once per second. */
export function nowSecond(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== cachedSecond) {
    cachedSecond = second;
    cachedNow = `${new Date(second * 1000).toISOString().slice(0, 19)}Z`;
  }
  return cachedNow;
}

function peer(p: Peer): PeerAttributes {
  return {
    address: { socketAddress: { address: p.address ?? '', portValue: p.port ?? 0 } },
    principal: p.principal ?? '',
    labels: p.labels,
  };
}

const NO_SEGMENTS: readonly string[] = Object.freeze([]);

/** Segments of the (already normalized) path, percent-decoded like OPA-Envoy; an undecodable segment stays as is. */
export function parsePath(path: string): readonly string[] {
  if (path === '/' || path === '') return NO_SEGMENTS;
  const parts = path.split('/');
  const out: string[] = [];
  for (const part of parts) {
    if (part === '') continue;
    if (!part.includes('%')) {
      out.push(part);
      continue;
    }
    try {
      out.push(decodeURIComponent(part));
    } catch {
      out.push(part);
    }
  }
  return out;
}

const NO_QUERY: Readonly<Record<string, readonly string[]>> = Object.freeze({});

function parsedQuery(q: Readonly<Record<string, string>>): Readonly<Record<string, readonly string[]>> {
  let out: Record<string, readonly string[]> | undefined;
  for (const k in q) {
    out ??= {};
    out[k] = [q[k]!];
  }
  return out ?? NO_QUERY;
}

export function queryString(q: Readonly<Record<string, string>>): string {
  let s = '';
  for (const k in q) {
    s += `${s === '' ? '' : '&'}${encodeURIComponent(k)}=${encodeURIComponent(q[k]!)}`;
  }
  return s;
}
