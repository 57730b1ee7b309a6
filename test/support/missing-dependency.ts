// A test whose system dependency is missing skips, saying why, on a developer's
// machine; under CI=true it fails instead: CI runs scripts/ensure-test-deps.sh,
// so a missing tool there means tests silently stopped running.

/** `reason` when the dependency is missing and this is not CI; throws under CI=true. */
export function skipReasonOutsideCi(reason: string | undefined): string | undefined {
  if (reason !== undefined && process.env.CI === 'true') {
    throw new Error(`CI=true and a test dependency is missing: ${reason}`);
  }
  return reason;
}
