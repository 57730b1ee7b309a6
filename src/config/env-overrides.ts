// Environment overrides for container deployments: AUTHZ__DEADLINE_MS=20 or
// AUTHZ__SERVER__GRPC__PORT=19191 sets deadline_ms / server.grpc.port. Values
// are parsed as YAML scalars so numbers and booleans keep their types. The
// double underscore separates path segments because keys contain single ones.
import { parse as parseYaml } from 'yaml';

const PREFIX = 'AUTHZ__';

export function applyEnvOverrides(doc: Record<string, unknown>, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out = structuredClone(doc);
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(PREFIX) || value === undefined) continue;
    const path = name.slice(PREFIX.length).toLowerCase().split('__').filter((s) => s !== '');
    if (path.length === 0) continue;
    setPath(out, path, parseScalar(value));
  }
  return out;
}

function parseScalar(value: string): unknown {
  try {
    const v: unknown = parseYaml(value);
    return v === null || typeof v !== 'object' ? v : value;
  } catch {
    return value;
  }
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i]!;
    const next = node[key];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}
