// The policy room's public surface: what the sidecar assembly and the CLI wire in.
export { createPolicyCapability, PolicyCapability, type PolicyDeps } from './capability.js';
export {
  policyConfigSchema,
  policyStageOptionsSchema,
  parsePolicyConfig,
  normalizeEntrypoint,
  type PolicyConfig,
  type PolicyStageOptions,
} from './config.js';
export { policyEvalCommand, type PolicyEvalIo } from './eval-command.js';
export { buildPolicyInput, type PolicyInput } from './input.js';
export { interpretDecision, sanitizeReason, POLICY_DENIED, POLICY_ERROR } from './result.js';
export { POLICY_UNAVAILABLE } from './stage.js';
