// Kubernetes' own OpenAPI schemas (kubernetes-models and its CRD companions)
// by apiVersion/kind, so a test can validate any manifest it reads or makes.
import { Deployment, DaemonSet, StatefulSet } from 'kubernetes-models/apps/v1';
import { CronJob, Job } from 'kubernetes-models/batch/v1';
import { ConfigMap, Pod, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { MutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Certificate, Issuer } from '@kubernetes-models/cert-manager/cert-manager.io/v1';
import { PodMonitor, PrometheusRule, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { AuthorizationPolicy } from '@kubernetes-models/istio/security.istio.io/v1';
import { ServiceEntry } from '@kubernetes-models/istio/networking.istio.io/v1';

interface Validatable {
  validate(): void;
}
type Model = new (data: never) => Validatable;

const MODELS: Readonly<Record<string, Model>> = {
  'apps/v1/Deployment': Deployment,
  'apps/v1/DaemonSet': DaemonSet,
  'apps/v1/StatefulSet': StatefulSet,
  'batch/v1/Job': Job,
  'batch/v1/CronJob': CronJob,
  'v1/Pod': Pod,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'admissionregistration.k8s.io/v1/MutatingWebhookConfiguration': MutatingWebhookConfiguration,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'cert-manager.io/v1/Certificate': Certificate,
  'cert-manager.io/v1/Issuer': Issuer,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PodMonitor': PodMonitor,
  'security.istio.io/v1/AuthorizationPolicy': AuthorizationPolicy,
  'networking.istio.io/v1/ServiceEntry': ServiceEntry,
};

/** Validates one manifest against its kind's schema; throws naming the kind, the object and the field. */
export function validateManifest(doc: { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown } }): string {
  const key = `${String(doc.apiVersion)}/${String(doc.kind)}`;
  const model = MODELS[key];
  if (model === undefined) throw new Error(`no schema known for ${key}`);
  try {
    new model(doc as never).validate();
  } catch (err) {
    throw new Error(`${key} ${String(doc.metadata?.name)}: ${(err as Error).message}`, { cause: err });
  }
  return key;
}
