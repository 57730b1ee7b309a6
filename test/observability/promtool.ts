// Finding Prometheus' tools for the tests that need them. Absent, those tests
// skip and say why; under CI=true a missing tool is a failure, because CI's
// `scripts/ensure-test-deps.sh` installs Debian's prometheus package.
import { execFileSync } from 'node:child_process';
import type { Test } from 'tap';

export function findTool(name: 'promtool' | 'prometheus'): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The tool's path, or undefined after marking `t` skipped (or failed, under CI). */
export function requireTool(t: Test, name: 'promtool' | 'prometheus'): string | undefined {
  const path = findTool(name);
  if (path !== undefined) return path;
  const why = `${name} is not installed (Debian package prometheus; scripts/ensure-test-deps.sh installs it)`;
  if (process.env.CI === 'true') t.fail(why);
  else t.pass(name, { skip: why });
  return undefined;
}
