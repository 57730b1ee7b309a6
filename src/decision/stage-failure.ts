import type { DenyStatus } from './types.js';

/**
 * Thrown by a stage (or by what it calls) to deny with a specific reason code
 * instead of the engine's generic `stage_error`. The engine turns any throw
 * into a deny; this only chooses which one.
 */
export class StageFailure extends Error {
  constructor(
    readonly reason: string,
    readonly status: DenyStatus = 503,
    message?: string,
  ) {
    super(message ?? reason);
    this.name = 'StageFailure';
  }
}
