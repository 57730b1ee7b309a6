// What /readyz and /status report: one PartStatus per part (identity keys,
// each capability), folded into one state for the whole sidecar. The worst
// part wins: error, then not_ready, then warn.
import type { PartState, PartStatus } from './decision/capability.js';

export interface SidecarStatus {
  /** The worst state of any part. */
  readonly state: PartState;
  /** True when the sidecar answers requests (identity and every capability loaded). */
  readonly ready: boolean;
  readonly parts: Readonly<Record<string, PartStatus>>;
}

const SEVERITY: Readonly<Record<PartState, number>> = { ok: 0, warn: 1, not_ready: 2, error: 3 };

export function foldStatus(parts: Readonly<Record<string, PartStatus>>, ready: boolean): SidecarStatus {
  let state: PartState = 'ok';
  for (const name in parts) {
    const s = parts[name]!.state;
    if (SEVERITY[s] > SEVERITY[state]) state = s;
  }
  return { state, ready, parts };
}

/** Identity's part: keys loaded, still loading, or failed to load. */
export function identityStatus(ready: boolean, error: string | undefined): PartStatus {
  if (ready) return { state: 'ok', message: 'keys loaded' };
  if (error !== undefined) return { state: 'error', message: `keys could not be loaded: ${error}` };
  return { state: 'not_ready', message: 'loading keys' };
}
