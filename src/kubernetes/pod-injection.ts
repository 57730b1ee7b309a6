// Decides whether one Pod gets the sidecar and, if so, the JSON Patch that
// adds it. Used by the webhook (a Pod) and by `inject --file` (a workload's
// Pod template); it knows nothing about decisions or about HTTP.
import { ANNOTATIONS, INJECTED_LABEL } from './annotations.js';
import { pointer, type JsonPatchOperation } from './json-patch.js';
import { readChoices } from './pod-overrides.js';
import { names, type PodLike } from './pod-shape.js';
import type { InjectorSettings } from './settings.js';
import { SIDECAR_CONTAINER_NAME, sidecarContainer, sidecarVolumes, type SidecarVolumeNames } from './sidecar-container.js';

/** Kubernetes' default when a Pod does not set terminationGracePeriodSeconds. */
const DEFAULT_GRACE_SECONDS = 30;

export interface InjectionContext {
  /** The Pod's namespace (a Pod being created may not carry it in metadata). */
  readonly namespace: string | undefined;
  /** The namespace is labelled authz-sidecar.io/inject=enabled, or the caller asked for every Pod (inject --file). */
  readonly namespaceOptedIn: boolean;
  /** A StatefulSet's volumeClaimTemplates: volumes its Pods will have, though the template does not list them. */
  readonly claimTemplates?: ReadonlySet<string>;
}

export type InjectionPlan =
  | { kind: 'skip'; reason: string; warnings: string[] }
  | { kind: 'inject'; patch: JsonPatchOperation[]; warnings: string[] }
  | { kind: 'refuse'; message: string };

export function planInjection(pod: PodLike, settings: InjectorSettings, ctx: InjectionContext): InjectionPlan {
  const annotations = pod.metadata?.annotations ?? {};
  const warnings: string[] = [];
  if (ctx.namespace !== undefined && settings.excluded_namespaces.includes(ctx.namespace)) {
    return { kind: 'skip', reason: `namespace ${ctx.namespace} is excluded from injection`, warnings };
  }
  const wish = annotations[ANNOTATIONS.inject];
  if (wish !== undefined && wish !== 'true' && wish !== 'false') {
    warnings.push(`${ANNOTATIONS.inject}: "${wish.slice(0, 32)}" is neither "true" nor "false", ignored`);
  }
  if (wish === 'false') return { kind: 'skip', reason: `opted out by ${ANNOTATIONS.inject}: "false"`, warnings };
  if (wish !== 'true' && !ctx.namespaceOptedIn) return { kind: 'skip', reason: 'not opted in (namespace label or annotation)', warnings };

  const spec = pod.spec;
  // Reinvocation (or a manifest already injected by `inject --file`, or a
  // container pasted by hand): a second sidecar would fight over the ports.
  if (names(spec.containers).has(SIDECAR_CONTAINER_NAME) || names(spec.initContainers).has(SIDECAR_CONTAINER_NAME)) {
    return { kind: 'skip', reason: `the Pod already has a container named ${SIDECAR_CONTAINER_NAME}`, warnings };
  }

  const read = readChoices(annotations, settings);
  if (!read.ok) return { kind: 'refuse', message: read.message };
  warnings.push(...read.warnings, ...portClashes(pod, settings));
  const podRestart = spec.restartPolicy;
  if (settings.mode === 'container' && (podRestart === 'OnFailure' || podRestart === 'Never')) {
    warnings.push('a plain sidecar container keeps this run-to-completion Pod running after its work is done (use mode native)');
  }

  const taken = new Set([...names(spec.volumes), ...(ctx.claimTemplates ?? [])]);
  const { audit } = read.choices;
  if (audit.kind === 'existing' && !taken.has(audit.volumeName)) {
    return { kind: 'refuse', message: `authz-sidecar injection refused: ${ANNOTATIONS.auditVolume}: the Pod has no volume named ${audit.volumeName}` };
  }
  const volumeNames: SidecarVolumeNames = {
    config: freeName('authz-sidecar-config', taken),
    audit: audit.kind === 'existing' ? audit.volumeName : freeName('authz-sidecar-audit', taken),
  };
  const container = sidecarContainer(settings, read.choices, volumeNames);
  const volumes = sidecarVolumes(read.choices, volumeNames);
  const patch: JsonPatchOperation[] = [];

  // Native sidecars go last among the init containers: earlier ones (a mesh's
  // own sidecar, setup jobs) start first, and sidecars stop in reverse order,
  // so a mesh proxy outlives us while the audit trail drains.
  const list = settings.mode === 'native' ? 'initContainers' : 'containers';
  appendAll(patch, list, spec[list], [container]);
  appendAll(patch, 'volumes', spec.volumes, volumes);

  const grace = spec.terminationGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS;
  // Native: the sidecar gets SIGTERM only after the app has exited, so its
  // drain comes on top of the app's time. Plain: all get SIGTERM together.
  const needed = settings.mode === 'native' ? grace + settings.audit.drain_seconds : Math.max(grace, settings.audit.drain_seconds);
  if (needed !== spec.terminationGracePeriodSeconds) {
    patch.push({ op: 'add', path: pointer('spec', 'terminationGracePeriodSeconds'), value: needed });
  }

  const status = JSON.stringify({ container: SIDECAR_CONTAINER_NAME, mode: settings.mode, volumes: volumes.map((v) => v.name) });
  if (pod.metadata == null) patch.unshift({ op: 'add', path: pointer('metadata'), value: {} });
  setEntry(patch, 'annotations', pod.metadata?.annotations, ANNOTATIONS.status, status);
  // A label, unlike an annotation, can be selected on: the chart's PodMonitor finds the sidecars by it.
  setEntry(patch, 'labels', pod.metadata?.labels, INJECTED_LABEL, 'true');
  return { kind: 'inject', patch, warnings };
}

function setEntry(patch: JsonPatchOperation[], map: 'annotations' | 'labels', existing: object | null | undefined, key: string, value: string): void {
  // `add` on a member that exists (as null) replaces it (RFC 6902, 4.1).
  if (existing == null) patch.push({ op: 'add', path: pointer('metadata', map), value: { [key]: value } });
  else patch.push({ op: 'add', path: pointer('metadata', map, key), value });
}

/**
 * `add` to the end of a list, creating the list when the Pod has none or null
 * (JSON Patch cannot append to a missing array; `add` replaces a null member).
 */
function appendAll(patch: JsonPatchOperation[], key: string, existing: unknown[] | undefined | null, items: unknown[]): void {
  if (existing == null) {
    patch.push({ op: 'add', path: pointer('spec', key), value: items });
    return;
  }
  for (const item of items) patch.push({ op: 'add', path: pointer('spec', key, '-'), value: item });
}

function freeName(base: string, taken: Set<string>): string {
  let name = base;
  for (let i = 2; taken.has(name); i++) name = `${base}-${i}`;
  taken.add(name);
  return name;
}

function portClashes(pod: PodLike, settings: InjectorSettings): string[] {
  const ours = new Map(Object.entries(settings.ports).map(([k, v]) => [v, k]));
  const out: string[] = [];
  for (const c of [...pod.spec.containers, ...(pod.spec.initContainers ?? [])]) {
    const ports = Array.isArray(c.ports) ? (c.ports as { containerPort?: unknown }[]) : [];
    for (const p of ports) {
      const use = typeof p.containerPort === 'number' ? ours.get(p.containerPort) : undefined;
      if (use !== undefined) out.push(`container ${String(c.name)} declares port ${String(p.containerPort)}, which the authz sidecar uses for ${use}`);
    }
  }
  return out;
}
