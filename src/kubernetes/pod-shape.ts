// The few parts of a Pod (or a workload's Pod template) the injector reads.
// Everything else passes through untouched, so these types stay loose.

export type KubeObject = Record<string, unknown>;

export interface NamedItem {
  readonly name?: unknown;
  readonly [key: string]: unknown;
}

export interface PodMetadata {
  name?: string;
  generateName?: string;
  namespace?: string;
  labels?: Record<string, string> | null;
  annotations?: Record<string, string> | null;
  [key: string]: unknown;
}

export interface PodSpec {
  containers: NamedItem[];
  initContainers?: NamedItem[] | null;
  volumes?: NamedItem[] | null;
  terminationGracePeriodSeconds?: number | null;
  [key: string]: unknown;
}

/** A Pod, or the `template` of a Deployment, StatefulSet, DaemonSet, Job or CronJob. */
export interface PodLike {
  metadata?: PodMetadata | null;
  spec: PodSpec;
}

export function isRecord(v: unknown): v is KubeObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Why `value` is not shaped like a Pod, or undefined when it is. Null maps and
 * lists (an empty `annotations:` in YAML) count as absent.
 */
export function podShapeProblem(value: unknown): string | undefined {
  if (!isRecord(value)) return 'is not an object';
  if (value.metadata != null && !isRecord(value.metadata)) return 'metadata is not an object';
  const meta = (value.metadata ?? undefined) as KubeObject | undefined;
  for (const key of ['annotations', 'labels'] as const) {
    if (meta?.[key] != null && !isStringMap(meta[key])) return `metadata.${key} is not a map of strings`;
  }
  if (!isRecord(value.spec)) return 'has no spec';
  const spec = value.spec;
  if (!Array.isArray(spec.containers)) return 'spec.containers is not a list';
  for (const key of ['containers', 'initContainers', 'volumes'] as const) {
    const list = spec[key];
    if (list == null) continue;
    if (!Array.isArray(list)) return `spec.${key} is not a list`;
    if (!list.every(isRecord)) return `spec.${key} has an entry that is not an object`;
  }
  if (spec.terminationGracePeriodSeconds != null && typeof spec.terminationGracePeriodSeconds !== 'number') {
    return 'spec.terminationGracePeriodSeconds is not a number';
  }
  return undefined;
}

function isStringMap(v: unknown): v is Record<string, string> {
  return isRecord(v) && Object.values(v).every((x) => typeof x === 'string');
}

export function names(items: readonly NamedItem[] | undefined | null): Set<string> {
  const out = new Set<string>();
  for (const item of items ?? []) if (typeof item?.name === 'string') out.add(item.name);
  return out;
}
