// Per-Pod choices read from annotations: which config, image, resources and
// audit volume. A known annotation with a bad value refuses the Pod with a
// message naming it (the API server would refuse the patched Pod anyway, less
// clearly); an unknown `authz-sidecar.io/` annotation is a warning.
import { ANNOTATIONS, ANNOTATION_HELP, unknownAnnotations } from './annotations.js';
import { QUANTITY, type InjectorSettings } from './settings.js';

export interface ResourceList {
  cpu?: string;
  memory?: string;
}

export interface SidecarChoices {
  image: string;
  configMap: string;
  resources: { requests: ResourceList; limits: ResourceList };
  audit:
    | { kind: 'emptyDir'; sizeLimit?: string }
    | { kind: 'claim'; claimName: string }
    /** A volume the Pod (or the StatefulSet's claim templates) already defines. */
    | { kind: 'existing'; volumeName: string };
}

export type ChoicesResult =
  | { ok: true; choices: SidecarChoices; warnings: string[] }
  | { ok: false; message: string };

/** DNS-1123 subdomain: ConfigMap and PersistentVolumeClaim names. */
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** DNS-1123 label: volume names. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** No spaces or control characters: the rest is the registry's business. */
const IMAGE_REFERENCE = /^[^\s\p{Cc}]+$/u;

export function readChoices(annotations: Readonly<Record<string, string>>, settings: InjectorSettings): ChoicesResult {
  const warnings = unknownAnnotations(annotations).map((k) => `${k}: unknown authz-sidecar annotation, ignored`);
  const problems: string[] = [];
  const pick = (name: keyof typeof ANNOTATIONS, valid: (v: string) => boolean): string | undefined => {
    const key = ANNOTATIONS[name];
    const value = annotations[key];
    if (value === undefined) return undefined;
    if (valid(value)) return value;
    problems.push(`${key}: "${value.slice(0, 64)}" is not valid (${ANNOTATION_HELP[key]})`);
    return undefined;
  };
  const isName = (v: string): boolean => v.length <= 253 && DNS_SUBDOMAIN.test(v);
  const isQuantity = (v: string): boolean => QUANTITY.test(v);

  const image = pick('image', (v) => v.length <= 512 && IMAGE_REFERENCE.test(v)) ?? settings.image;
  const configMap = pick('config', isName) ?? settings.config_map;
  const requests = withOverrides(settings.resources.requests, pick('cpuRequest', isQuantity), pick('memoryRequest', isQuantity));
  const limits = withOverrides(settings.resources.limits, pick('cpuLimit', isQuantity), pick('memoryLimit', isQuantity));
  const claimName = pick('auditClaim', isName);
  const volumeName = pick('auditVolume', (v) => v.length <= 63 && DNS_LABEL.test(v));
  const auditSize = pick('auditSize', isQuantity);
  if (claimName !== undefined && volumeName !== undefined) {
    problems.push(`${ANNOTATIONS.auditClaim} and ${ANNOTATIONS.auditVolume} both name the audit volume: keep one`);
  }
  if (problems.length > 0) return { ok: false, message: `authz-sidecar injection refused: ${problems.join('; ')}` };

  let audit: SidecarChoices['audit'];
  if (claimName !== undefined || volumeName !== undefined) {
    audit = claimName !== undefined ? { kind: 'claim', claimName } : { kind: 'existing', volumeName: volumeName! };
    if (auditSize !== undefined) {
      warnings.push(`${ANNOTATIONS.auditSize}: ignored, the audit trail is on ${claimName ?? volumeName} (its size is that volume's)`);
    }
  } else {
    const sizeLimit = auditSize ?? settings.audit.size_limit;
    audit = sizeLimit === undefined ? { kind: 'emptyDir' } : { kind: 'emptyDir', sizeLimit };
  }
  return { ok: true, choices: { image, configMap, resources: { requests, limits }, audit }, warnings };
}

function withOverrides(base: ResourceList, cpu: string | undefined, memory: string | undefined): ResourceList {
  const out: ResourceList = { ...base };
  if (cpu !== undefined) out.cpu = cpu;
  if (memory !== undefined) out.memory = memory;
  return out;
}
