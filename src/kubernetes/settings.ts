// The injector's own settings: what it adds to a Pod when the Pod's
// annotations say nothing else. `inject serve --settings F` and
// `inject --file … --settings F` read them from YAML; the Helm chart renders
// that file from its values. Every key has a default, so no file is needed.
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

const port = z.number().int().min(1).max(65535);
/** Kubernetes resource quantities (the forms people write; exponents are not accepted). */
export const QUANTITY = /^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
const quantity = z.string().regex(QUANTITY, 'a Kubernetes quantity such as 100m or 96Mi');
const resourceList = z.object({ cpu: quantity.optional(), memory: quantity.optional() }).strict();

export const injectorSettingsSchema = z
  .object({
    image: z.string().min(1).default('authz-sidecar:0.1.0'),
    image_pull_policy: z.enum(['Always', 'IfNotPresent', 'Never']).default('IfNotPresent'),
    /**
     * native: an initContainers entry with restartPolicy Always (Kubernetes >= 1.29): it is
     * ready before the app starts and stops after the app, so the audit trail drains last.
     * container: a plain container, for older clusters.
     */
    mode: z.enum(['native', 'container']).default('native'),
    /** ConfigMap with the sidecar's config, unless a Pod names another by annotation. */
    config_map: z.string().min(1).default('authz-sidecar'),
    /** The key in that ConfigMap that holds the config. */
    config_key: z.string().min(1).default('sidecar.yaml'),
    ports: z
      .object({ grpc: port.default(9191), http: port.default(9192), admin: port.default(9090) })
      .strict()
      .prefault({}),
    resources: z
      .object({
        requests: resourceList.default({ cpu: '100m', memory: '96Mi' }),
        limits: resourceList.default({ memory: '256Mi' }),
      })
      .strict()
      .prefault({}),
    audit: z
      .object({
        /** sizeLimit of the default emptyDir; unset = no limit. */
        size_limit: quantity.optional(),
        /**
         * Seconds the sidecar needs after SIGTERM to drain the audit trail
         * (audit.drain_timeout_ms plus closing the listeners). Added to the Pod's
         * terminationGracePeriodSeconds.
         */
        drain_seconds: z.number().int().min(0).max(600).default(10),
      })
      .strict()
      .prefault({}),
    /** The image's user (node:20 images: `node` = 1000); numeric so runAsNonRoot can be verified. */
    run_as_user: z.number().int().min(1).default(1000),
    /** Pods here are never injected (the injector's own namespace is added by the chart). */
    excluded_namespaces: z.array(z.string().min(1)).default(['kube-system', 'kube-public', 'kube-node-lease']),
  })
  .strict();

export type InjectorSettings = z.infer<typeof injectorSettingsSchema>;

export function defaultInjectorSettings(): InjectorSettings {
  return injectorSettingsSchema.parse({});
}

export class InjectorSettingsError extends Error {
  override readonly name = 'InjectorSettingsError';
}

export function parseInjectorSettings(doc: unknown, source: string): InjectorSettings {
  const parsed = injectorSettingsSchema.safeParse(doc ?? {});
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
  throw new InjectorSettingsError(`${source}: ${issues}`);
}

export async function loadInjectorSettings(path: string | undefined): Promise<InjectorSettings> {
  if (path === undefined) return defaultInjectorSettings();
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new InjectorSettingsError(`cannot read injector settings ${path}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new InjectorSettingsError(`${path}: not YAML: ${(err as Error).message}`);
  }
  return parseInjectorSettings(doc, path);
}
