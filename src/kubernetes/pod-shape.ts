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
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

export interface PodSpec {
  containers: NamedItem[];
  initContainers?: NamedItem[];
  volumes?: NamedItem[];
  terminationGracePeriodSeconds?: number;
  [key: string]: unknown;
}

/** A Pod, or the `template` of a Deployment, StatefulSet, DaemonSet, Job or CronJob. */
export interface PodLike {
  metadata?: PodMetadata;
  spec: PodSpec;
}

export function isRecord(v: unknown): v is KubeObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Why `value` is not shaped like a Pod, or undefined when it is. */
export function podShapeProblem(value: unknown): string | undefined {
  if (!isRecord(value)) return 'is not an object';
  if (value.metadata !== undefined && !isRecord(value.metadata)) return 'metadata is not an object';
  const meta = value.metadata as KubeObject | undefined;
  if (meta?.annotations !== undefined && !isStringMap(meta.annotations)) return 'metadata.annotations is not a map of strings';
  if (!isRecord(value.spec)) return 'has no spec';
  const spec = value.spec;
  if (!Array.isArray(spec.containers)) return 'spec.containers is not a list';
  for (const key of ['initContainers', 'volumes'] as const) {
    if (spec[key] !== undefined && spec[key] !== null && !Array.isArray(spec[key])) return `spec.${key} is not a list`;
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
