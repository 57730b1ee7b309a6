// The audit room's public surface: the config section, the capability, the CLI commands.
export { auditConfigSchema, parseAuditConfig, type AuditConfig } from './config.js';
export { createAuditCapability, type AuditCapability, type AuditCapabilityOptions } from './capability.js';
export { auditVerifyCommand, auditQueryCommand } from './cli.js';
export { AUDIT_SCHEMA_VERSION, toWireEvent, captureEvent, type AuditEventV1, type AuditResult } from './event.js';
export { verifyAuditDir, type VerifyReport, type ChainProblem } from './verify.js';
export { queryAuditDir, type AuditQuery } from './query.js';
