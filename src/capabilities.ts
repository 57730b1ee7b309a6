// The capabilities a config can switch on, by section name. Each module is
// imported, and its capability created, only when its section is present:
// their libraries (OpenTelemetry, the OpenFGA SDK, ioredis, opa-wasm…) cost
// seconds of a process start on a slow node (bench/RESULTS.md, session 9),
// and a minimal config loads none of them.
import type { LoadedConfig } from './config/load.js';
import type { Capability, CapabilityDeps, CapabilityFactory } from './decision/capability.js';

// Order matters at shutdown: capabilities close in this order after the
// servers stop, and audit goes last so it records every decision made.
const FACTORIES: ReadonlyArray<readonly [string, () => Promise<CapabilityFactory>]> = [
  ['rebac', async () => (await import('./rebac/index.js')).createRebacCapability],
  ['policy', async () => (await import('./policy/index.js')).createPolicyCapability],
  ['budget', async () => (await import('./budget/index.js')).createBudgetCapability],
  ['tracing', async () => (await import('./tracing/capability.js')).createTracingCapability],
  ['audit', async () => (await import('./audit/index.js')).createAuditCapability],
];

/** The config sections that switch a capability on. */
export const CAPABILITY_SECTIONS: readonly string[] = FACTORIES.map(([section]) => section);

export async function createCapabilities(loaded: LoadedConfig, deps: CapabilityDeps): Promise<Capability[]> {
  const created: Capability[] = [];
  try {
    for (const [section, load] of FACTORIES) {
      const raw = loaded.raw[section];
      if (raw === undefined) continue;
      const factory = await load();
      created.push(factory(raw, deps));
    }
  } catch (err) {
    // A section that does not parse fails the start: what was already created (timers, connections) is closed first.
    await Promise.allSettled(created.map((c) => c.close()));
    throw err;
  }
  return created;
}
