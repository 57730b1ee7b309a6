// How a capability (rebac, policy, budget, audit...) plugs into the sidecar,
// in the spirit of a fastify plugin: one factory per config section, one
// lifecycle, at most one stage factory. The sidecar assembly (src/sidecar.ts)
// creates capabilities from their config sections, registers their stage
// factories, reports their readiness on /readyz and closes them on shutdown.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../observability/logger.js';
import type { SidecarMetrics } from '../observability/metrics.js';
import type { AuthzRequest, Decision } from './types.js';
import type { StageFactory } from './stage-registry.js';

export interface CapabilityDeps {
  readonly log: Logger;
  readonly metrics: SidecarMetrics;
  /** Directory of the config file: relative paths in a section resolve against it. */
  readonly baseDir: string;
}

export interface Capability {
  readonly name: string;
  /** The stage this capability contributes to routes (`stages: [ name | { name: opts } ]`). */
  readonly stageFactory?: StageFactory;
  /**
   * Called with every decision, synchronously, after it is made and before
   * its answer leaves (audit appends to its write-ahead trail here). Must not
   * block or throw. Returning false means "not recorded, and the answer must
   * not leave as it is": the authorizer answers a deny `audit_unavailable` instead.
   */
  readonly onDecision?: (decision: Decision, req: AuthzRequest) => boolean | void;
  /** Serves admin API paths on the admin port (behind its own auth); returns false for paths it does not own. */
  readonly adminHandler?: (req: IncomingMessage, res: ServerResponse) => boolean;
  /** Named checks shown on /readyz next to readiness (e.g. audit_chain_intact); they do not make the sidecar unready. */
  readonly readinessChecks?: () => Record<string, boolean>;
  /** True once everything a route needs has loaded (model, bundle, connection...). */
  isReady(): boolean;
  /** Resolves when first ready; rejects with a clear message if it cannot become ready. */
  ready(): Promise<void>;
  /** Apply a new config section on hot reload; throw to refuse it (the old one keeps serving). */
  reconfigure?(section: unknown): Promise<void>;
  /** Release timers, sockets, files; flush what must not be lost. */
  close(): Promise<void>;
}

/** Parses its raw config section (throwing a clear Error) and returns the capability. */
export type CapabilityFactory = (section: unknown, deps: CapabilityDeps) => Capability;
