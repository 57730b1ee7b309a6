// What the authorizer needs from the other rooms, as interfaces, so decision/
// depends on no transport, identity or routing implementation.
import type { AuthzRequest, EnforcementMode, Principal, ResourceRef, Stage } from './types.js';

export type IdentityResult =
  | { readonly kind: 'principal'; readonly principal: Principal }
  /** No credentials presented at all. */
  | { readonly kind: 'none' }
  /** Credentials presented but unusable: a stable reason code (token_expired, token_invalid, ...). */
  | { readonly kind: 'invalid'; readonly reason: string; readonly detail?: string };

export interface IdentityResolver {
  identify(req: AuthzRequest): IdentityResult | Promise<IdentityResult>;
}

export type ResourceResolution =
  | { readonly kind: 'ok'; readonly resource: ResourceRef }
  | { readonly kind: 'error'; readonly reason: string };

/** A route with everything compiled: its stages are already bound to their options. */
export interface CompiledRoute {
  readonly name: string;
  readonly action: string;
  readonly anonymous: boolean;
  readonly enforcement: EnforcementMode | undefined;
  readonly deadlineMs: number | undefined;
  readonly stages: readonly Stage[];
  /** True when the route's config says `stages: []` on purpose (authenticate only). */
  readonly explicitlyNoStages: boolean;
  /** Compliance controls the route's decisions enforce (from `controls:`). */
  readonly controls?: readonly string[];
  resolveResource(req: AuthzRequest, params: Readonly<Record<string, string>>, principal: Principal): ResourceResolution;
}

export interface RouteMatch {
  readonly route: CompiledRoute;
  readonly params: Readonly<Record<string, string>>;
}

export interface RouteMatcher {
  match(req: AuthzRequest): RouteMatch | undefined;
}
