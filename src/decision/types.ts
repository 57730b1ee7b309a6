// The contracts every room builds against. A transport produces an AuthzRequest,
// identity produces a Principal, the route table produces a RouteMatch, stages
// produce StageResults, and the engine folds them into one Decision.

/** Who is calling, as established by identity/. */
export interface Principal {
  /** Stable id: a user's `sub`, or a SPIFFE id for workloads. */
  readonly id: string;
  readonly kind: 'user' | 'workload' | 'anonymous';
  /** The tenant the principal belongs to, if any. */
  readonly tenant: string | undefined;
  readonly roles: readonly string[];
  /** Verified claims (JWT) or attributes; never the raw token. */
  readonly claims: Readonly<Record<string, unknown>>;
  /** How the identity was established. */
  readonly source: 'jwt' | 'envoy_jwt_authn' | 'spiffe' | 'trusted_headers' | 'anonymous';
}

export interface Peer {
  readonly address: string | undefined;
  readonly port: number | undefined;
  /** Envoy's `source.principal` / `destination.principal` (URI SAN, e.g. a SPIFFE id). */
  readonly principal: string | undefined;
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * One request to authorize, independent of the wire it arrived on.
 * Header names are lower-case; repeated headers are joined with ',' except
 * that the raw list is kept in `headerList` so identity can refuse duplicates.
 */
export interface AuthzRequest {
  /** x-request-id from Envoy, or one we generated. */
  readonly requestId: string;
  readonly method: string;
  /** Normalized path, without query string (see request/normalize-path.ts). */
  readonly path: string;
  /** The path as received, before normalization, without query. */
  readonly rawPath: string;
  readonly query: Readonly<Record<string, string>>;
  readonly host: string;
  readonly scheme: string;
  readonly protocol: string;
  readonly headers: Readonly<Record<string, string>>;
  /** Every header occurrence in arrival order, lower-case names. */
  readonly headerList: ReadonlyArray<readonly [string, string]>;
  readonly source: Peer;
  readonly destination: Peer;
  readonly contextExtensions: Readonly<Record<string, string>>;
  /** Envoy's metadata_context.filter_metadata as plain JSON (Struct decoded). */
  readonly filterMetadata: Readonly<Record<string, unknown>>;
  /** Which transport produced this request: 'grpc' | 'http' | 'proxy' | 'cli'. */
  readonly transport: 'grpc' | 'http' | 'proxy' | 'cli';
  /**
   * Set by the adapter when the request cannot be judged (non-UTF-8 path,
   * encoded slash, oversized header...): a stable reason code. The authorizer
   * denies it before routing, so it still gets a decision id, metrics and audit.
   */
  readonly malformed?: string;
}

export interface ResourceRef {
  readonly type: string;
  readonly id: string;
  /** The tenant that owns the resource, resolved from the route. */
  readonly tenant: string | undefined;
}

export type EnforcementMode = 'deny' | 'dryrun' | 'warn';

export type DenyStatus = 401 | 403 | 429 | 503;

export type StageResult =
  | {
      readonly kind: 'allow';
      /** Added to the upstream request (Envoy: ok_response.headers / allowed_upstream_headers). */
      readonly headers?: Readonly<Record<string, string>>;
      /** Added to the client's response (Envoy: response_headers_to_add / allowed_client_headers_on_success). */
      readonly responseHeaders?: Readonly<Record<string, string>>;
    }
  | {
      readonly kind: 'deny';
      readonly status: DenyStatus;
      readonly reason: string;
      readonly headers?: Readonly<Record<string, string>>;
      /** Optional body for the denied response (policy may set one). */
      readonly body?: string;
    }
  | { readonly kind: 'abstain' };

/** What a stage knows about the request beyond the AuthzRequest itself. */
export interface DecisionContext {
  readonly decisionId: string;
  readonly principal: Principal;
  readonly action: string;
  readonly resource: ResourceRef;
  /** The matched route's name (or its pattern when unnamed). */
  readonly route: string;
  readonly routeParams: Readonly<Record<string, string>>;
  /** Absolute deadline, `performance.now()` milliseconds. */
  readonly deadline: number;
  /** Aborted when the deadline passes; pass it to any I/O. */
  readonly signal: AbortSignal;
  /**
   * Facts stages record for later stages and for the audit event,
   * e.g. `policy_revision`, `fga_model_id`, `budget`. Mutable by design.
   */
  readonly annotations: Record<string, unknown>;
}

/** The one interface every check implements. */
export interface Stage {
  readonly name: string;
  evaluate(req: AuthzRequest, ctx: DecisionContext): StageResult | Promise<StageResult>;
}

/** The folded answer the transports map onto their wire. */
export interface Decision {
  readonly decisionId: string;
  readonly allowed: boolean;
  /** 200 when allowed; otherwise the deny status. */
  readonly status: 200 | DenyStatus;
  /** 'allowed' when allowed, else a stable snake_case reason code. */
  readonly reason: string;
  /** The stage (or phase: 'identity', 'route', 'engine') that decided. */
  readonly stage: string;
  readonly mode: EnforcementMode;
  /** In dryrun/warn: the deny that was not enforced. */
  readonly wouldDeny?: { readonly status: DenyStatus; readonly reason: string; readonly stage: string };
  /** Headers for the upstream request on allow (identity, budget...). */
  readonly upstreamHeaders: Readonly<Record<string, string>>;
  /** Headers for the downstream response (on allow: added to the response; on deny: on the denial). */
  readonly responseHeaders: Readonly<Record<string, string>>;
  /** A deny body chosen by a stage (policy); transports default to {error, reason, decision_id}. */
  readonly body?: string;
  readonly principal?: Principal;
  readonly action?: string;
  readonly resource?: ResourceRef;
  readonly route?: string;
  readonly annotations: Readonly<Record<string, unknown>>;
  /** The route's compliance controls (a policy's own are in annotations.controls). */
  readonly controls?: readonly string[];
  /** Wall time spent deciding, in seconds. */
  readonly durationSeconds: number;
}

/** The header that carries the decision id to Envoy on allow and deny (registry: owned-headers.ts). */
export { DECISION_ID_HEADER } from './owned-headers.js';
