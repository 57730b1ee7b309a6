// What the injector adds to a Pod: the sidecar container and its two volumes.
// Plain data in the Kubernetes API's shape, so the tests can validate it with
// Kubernetes' own schemas.
import type { SidecarChoices } from './pod-overrides.js';
import type { InjectorSettings } from './settings.js';

export const SIDECAR_CONTAINER_NAME = 'authz-sidecar';
export const CONFIG_DIR = '/etc/authz-sidecar';
/** Audit trail, spool and any other state: the config's audit dirs must be under here. */
export const DATA_DIR = '/var/lib/authz-sidecar';

/** Port names are per container, but Services and probes read them: ours say whose they are. */
export const PORT_NAMES = { grpc: 'authz-grpc', http: 'authz-http', admin: 'authz-admin' } as const;

export interface SidecarVolumeNames {
  readonly config: string;
  readonly audit: string;
}

export function sidecarContainer(
  settings: InjectorSettings,
  choices: SidecarChoices,
  volumes: SidecarVolumeNames,
): Record<string, unknown> {
  const { ports } = settings;
  const probe = (path: string, periodSeconds: number, failureThreshold: number) => ({
    httpGet: { path, port: PORT_NAMES.admin },
    periodSeconds,
    timeoutSeconds: 2,
    failureThreshold,
  });
  const container: Record<string, unknown> = {
    name: SIDECAR_CONTAINER_NAME,
    image: choices.image,
    imagePullPolicy: settings.image_pull_policy,
    args: ['serve', '--config', `${CONFIG_DIR}/${settings.config_key}`],
    env: [
      // The sidecar's listeners default to loopback (Envoy is in the Pod), but
      // the kubelet probes and Prometheus scrapes the admin port on the Pod IP.
      // Ports are pinned here so the probes and named ports always match what
      // the process listens on, whatever the ConfigMap says.
      { name: 'AUTHZ__SERVER__ADMIN__HOST', value: '0.0.0.0' },
      { name: 'AUTHZ__SERVER__ADMIN__PORT', value: String(ports.admin) },
      { name: 'AUTHZ__SERVER__GRPC__PORT', value: String(ports.grpc) },
      { name: 'AUTHZ__SERVER__HTTP__PORT', value: String(ports.http) },
    ],
    ports: [
      { name: PORT_NAMES.grpc, containerPort: ports.grpc, protocol: 'TCP' },
      { name: PORT_NAMES.http, containerPort: ports.http, protocol: 'TCP' },
      { name: PORT_NAMES.admin, containerPort: ports.admin, protocol: 'TCP' },
    ],
    // Startup waits for the process (/healthz), not for readiness: a sidecar
    // whose identity provider is briefly down starts not-ready and denies
    // (jwks_unavailable) rather than being killed into a crash loop.
    startupProbe: probe('/healthz', 1, 60),
    readinessProbe: probe('/readyz', 5, 2),
    livenessProbe: probe('/healthz', 10, 3),
    resources: { requests: { ...choices.resources.requests }, limits: { ...choices.resources.limits } },
    securityContext: {
      runAsNonRoot: true,
      // Numeric, because the kubelet cannot check runAsNonRoot against a named USER.
      runAsUser: settings.run_as_user,
      runAsGroup: settings.run_as_user,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [
      { name: volumes.config, mountPath: CONFIG_DIR, readOnly: true },
      { name: volumes.audit, mountPath: DATA_DIR },
    ],
  };
  // A native sidecar: started before the app (and ready first, by the startup
  // probe), stopped after it, so decisions made during the app's shutdown are
  // still audited and the trail drains last.
  if (settings.mode === 'native') container.restartPolicy = 'Always';
  return container;
}

/** The volumes the injector adds: the config, and the audit volume unless the Pod brings its own. */
export function sidecarVolumes(choices: SidecarChoices, names: SidecarVolumeNames): Record<string, unknown>[] {
  // The whole ConfigMap, not one key: a config may name files beside it
  // (a JWKS, an FGA model), and a directory mount follows ConfigMap updates.
  const volumes: Record<string, unknown>[] = [{ name: names.config, configMap: { name: choices.configMap } }];
  const { audit } = choices;
  if (audit.kind === 'claim') volumes.push({ name: names.audit, persistentVolumeClaim: { claimName: audit.claimName } });
  if (audit.kind === 'emptyDir') volumes.push({ name: names.audit, emptyDir: audit.sizeLimit === undefined ? {} : { sizeLimit: audit.sizeLimit } });
  return volumes;
}
