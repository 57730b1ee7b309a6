// The rebac room's public surface: what the sidecar assembly wires in.
export { createRebacCapability, RebacCapability, type RebacDeps } from './capability.js';
export { rebacConfigSchema, parseRebacConfig, type RebacConfig, type RemoteConfig, type EmbeddedConfig } from './config.js';
export type { FgaCheck, RebacChecker } from './checker.js';
export { REBAC_BAD_REQUEST, REBAC_DENIED, REBAC_UNAVAILABLE } from './reasons.js';
export { SubjectMapper, escapeFgaId } from './subject.js';
