// The capabilities a config can switch on, by section name. Each is created
// only when its section is present, so a minimal config loads nothing extra.
import type { LoadedConfig } from './config/load.js';
import type { Capability, CapabilityDeps, CapabilityFactory } from './decision/capability.js';

import { createAuditCapability } from './audit/index.js';
import { createBudgetCapability } from './budget/index.js';
import { createPolicyCapability } from './policy/index.js';
import { createRebacCapability } from './rebac/index.js';
import { createTracingCapability } from './tracing/capability.js';

// Order matters at shutdown: capabilities close in this order after the
// servers stop, and audit goes last so it records every decision made.
const FACTORIES: ReadonlyArray<readonly [string, CapabilityFactory]> = [
  ['rebac', createRebacCapability],
  ['policy', createPolicyCapability],
  ['budget', createBudgetCapability],
  ['tracing', createTracingCapability],
  ['audit', createAuditCapability],
];

/** The config sections that switch a capability on. */
export const CAPABILITY_SECTIONS: readonly string[] = FACTORIES.map(([section]) => section);

export function createCapabilities(loaded: LoadedConfig, deps: CapabilityDeps): Capability[] {
  const created: Capability[] = [];
  for (const [section, factory] of FACTORIES) {
    const raw = loaded.raw[section];
    if (raw === undefined) continue;
    created.push(factory(raw, deps));
  }
  return created;
}
