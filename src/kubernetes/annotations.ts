// The one list of Pod annotations the injector reads. Anything else under the
// `authz-sidecar.io/` prefix is a typo or a wish, and the API server shows the
// user a warning for it rather than the injector silently ignoring it.

export const ANNOTATION_PREFIX = 'authz-sidecar.io/';

/** The namespace label that turns injection on for every Pod in the namespace. */
export const INJECT_NAMESPACE_LABEL = 'authz-sidecar.io/inject';

/** Set by the injector on every Pod it injects, so monitoring can select the sidecars. */
export const INJECTED_LABEL = 'authz-sidecar.io/injected';

export const ANNOTATIONS = {
  /** "true" injects in a namespace that is not labelled; "false" opts a Pod out everywhere. */
  inject: 'authz-sidecar.io/inject',
  /** Written by the injector: what it added (container, volumes, mode), for `kubectl describe` and for idempotency. */
  status: 'authz-sidecar.io/status',
  /** The ConfigMap holding sidecar.yaml (default: the injector's settings). */
  config: 'authz-sidecar.io/config',
  /** The sidecar image (default: the injector's settings). */
  image: 'authz-sidecar.io/image',
  cpuRequest: 'authz-sidecar.io/cpu-request',
  memoryRequest: 'authz-sidecar.io/memory-request',
  cpuLimit: 'authz-sidecar.io/cpu-limit',
  memoryLimit: 'authz-sidecar.io/memory-limit',
  /** Mount this PersistentVolumeClaim for the audit trail instead of an emptyDir. */
  auditClaim: 'authz-sidecar.io/audit-claim',
  /** Mount this volume the Pod already has (a StatefulSet's volumeClaimTemplate) for the audit trail. */
  auditVolume: 'authz-sidecar.io/audit-volume',
  /** sizeLimit of the audit emptyDir (e.g. 2Gi). */
  auditSize: 'authz-sidecar.io/audit-size',
} as const;

export type AnnotationName = (typeof ANNOTATIONS)[keyof typeof ANNOTATIONS];

/** What each annotation means, for the docs and for error messages. */
export const ANNOTATION_HELP: Readonly<Record<AnnotationName, string>> = {
  [ANNOTATIONS.inject]: '"true" injects the sidecar (any namespace not excluded); "false" never injects',
  [ANNOTATIONS.status]: 'set by the injector: the container, volumes and mode it added',
  [ANNOTATIONS.config]: 'name of the ConfigMap with sidecar.yaml',
  [ANNOTATIONS.image]: 'sidecar image reference',
  [ANNOTATIONS.cpuRequest]: 'CPU request of the sidecar (Kubernetes quantity, e.g. 50m)',
  [ANNOTATIONS.memoryRequest]: 'memory request of the sidecar (e.g. 64Mi)',
  [ANNOTATIONS.cpuLimit]: 'CPU limit of the sidecar',
  [ANNOTATIONS.memoryLimit]: 'memory limit of the sidecar',
  [ANNOTATIONS.auditClaim]: 'PersistentVolumeClaim for the audit trail (default: an emptyDir)',
  [ANNOTATIONS.auditVolume]: "a volume of the Pod's own (e.g. a StatefulSet volumeClaimTemplate) for the audit trail",
  [ANNOTATIONS.auditSize]: 'sizeLimit of the audit emptyDir (e.g. 2Gi)',
};

const KNOWN: ReadonlySet<string> = new Set(Object.values(ANNOTATIONS));

/** Our-prefixed annotation keys that the injector does not know. */
export function unknownAnnotations(annotations: Readonly<Record<string, string>>): string[] {
  return Object.keys(annotations).filter((k) => k.startsWith(ANNOTATION_PREFIX) && !KNOWN.has(k));
}
