// How a capability (rebac, policy, budget, audit...) plugs into the sidecar,
// in the spirit of a fastify plugin: one factory per config section, one
// lifecycle, at most one stage factory. The sidecar assembly (src/sidecar.ts)
// creates capabilities from their config sections, registers their stage
// factories, reports their status on /readyz and /status, reloads them in two
// phases (prepare everything, then commit everything) and closes them on
// shutdown.
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

/**
 * How one part of the sidecar is doing, the way OPA's plugins report it:
 *  - not_ready: still loading (keys, model, bundle, connection); requests it guards are denied
 *  - ok:        serving as configured
 *  - warn:      serving, but something needs attention (stale bundle, backlog growing, breaker open)
 *  - error:     cannot serve what it guards (requests are denied)
 */
export type PartState = 'not_ready' | 'ok' | 'warn' | 'error';

/** Facts an operator reads next to the state (revision, age, depth...). */
export type StatusDetails = Readonly<Record<string, string | number | boolean | null>>;

export interface PartStatus {
  readonly state: PartState;
  /** One line saying why, for a human ("bundle r42 loaded 12 s ago", "Redis unreachable: ECONNREFUSED"). */
  readonly message: string;
  readonly details?: StatusDetails;
}

/**
 * A reload's first phase for one capability, fully done: the new section is
 * validated and everything it needs is opened and loaded, but nothing the
 * running sidecar uses has changed. The sidecar then either commits every
 * prepared change (after the new runtime is built) or aborts every one.
 */
export interface PreparedChange {
  /**
   * The stage factory the new runtime registers in place of the capability's
   * current one, when the change gives the stage new things to read (a new
   * checker). Absent: the current factory serves the new runtime too.
   */
  readonly stageFactory?: StageFactory;
  /** Make the change live. Synchronous and must not throw: everything fallible happened in prepare. */
  commit(): void;
  /** Release what prepare opened; the capability stays exactly as it was. */
  abort(): void;
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
  /** True when onDecision reads Decision.stageTimings (tracing): the engine then times each stage. */
  readonly readsStageTimings?: boolean;
  /** Serves admin API paths on the admin port (behind its own auth); returns false for paths it does not own. */
  readonly adminHandler?: (req: IncomingMessage, res: ServerResponse) => boolean;
  /** Named checks shown on /readyz next to readiness (e.g. audit_chain_intact); they do not make the sidecar unready. */
  readonly readinessChecks?: () => Record<string, boolean>;
  /** True once everything a route needs has loaded (model, bundle, connection...). */
  isReady(): boolean;
  /** Resolves when first ready; rejects with a clear message if it cannot become ready. */
  ready(): Promise<void>;
  /** State and message for /readyz and /status. Cheap: called per probe, never per decision. */
  status(): PartStatus;
  /**
   * Validate a changed section and prepare it without touching what serves
   * now; throw (a clear Error) to refuse the reload. Absent: the section
   * applies on restart only, and a changed one refuses the reload.
   */
  prepare?(section: unknown): Promise<PreparedChange>;
  /** Release timers, sockets, files; flush what must not be lost. */
  close(): Promise<void>;
}

/** Parses its raw config section (throwing a clear Error) and returns the capability. */
export type CapabilityFactory = (section: unknown, deps: CapabilityDeps) => Capability;

/** The status of a part that is either loaded or still loading. */
export function readinessStatus(ready: boolean, okMessage: string, details?: StatusDetails): PartStatus {
  return ready ? { state: 'ok', message: okMessage, details } : { state: 'not_ready', message: 'loading', details };
}
