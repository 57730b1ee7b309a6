// The capabilities a config can switch on, by section name. Each is created
// only when its section is present, so a minimal config loads nothing extra.
import type { LoadedConfig } from './config/load.js';
import type { Capability, CapabilityDeps, CapabilityFactory } from './decision/capability.js';

const FACTORIES: ReadonlyArray<readonly [string, CapabilityFactory]> = [];

export function createCapabilities(loaded: LoadedConfig, deps: CapabilityDeps): Capability[] {
  const created: Capability[] = [];
  for (const [section, factory] of FACTORIES) {
    const raw = loaded.raw[section];
    if (raw === undefined) continue;
    created.push(factory(raw, deps));
  }
  return created;
}
