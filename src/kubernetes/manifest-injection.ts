// `inject --file`: multi-document YAML in, the same documents out, with the
// sidecar added to every workload's Pod template (like `istioctl kube-inject`,
// for GitOps repositories). The patch is the webhook's, applied to the YAML
// document in place, so comments and the order of keys survive.
import { isCollection, isMap, isSeq, parseAllDocuments, type Document, type Node } from 'yaml';
import { parsePointer, type JsonPatchOperation } from './json-patch.js';
import { planInjection } from './pod-injection.js';
import { isRecord, podShapeProblem, type PodLike } from './pod-shape.js';
import type { InjectorSettings } from './settings.js';

/** Where each kind keeps the Pod it creates. */
const POD_TEMPLATE_PATH: Readonly<Record<string, readonly string[]>> = {
  Pod: [],
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

export class ManifestError extends Error {
  override readonly name = 'ManifestError';
}

export interface ManifestInjection {
  readonly yaml: string;
  /** One line per document: what happened to it. */
  readonly report: string[];
  readonly warnings: string[];
}

export function injectManifests(text: string, settings: InjectorSettings): ManifestInjection {
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) throw new ManifestError('the input is empty');
  const report: string[] = [];
  const warnings: string[] = [];
  docs.forEach((doc, index) => {
    if (doc.errors.length > 0) throw new ManifestError(`document ${index + 1}: ${doc.errors[0]!.message}`);
    const obj: unknown = doc.toJS();
    if (!isRecord(obj)) return;
    const kind = typeof obj.kind === 'string' ? obj.kind : '';
    const meta = isRecord(obj.metadata) ? obj.metadata : {};
    const label = `${kind || 'document'}/${typeof meta.name === 'string' ? meta.name : index + 1}`;
    const templatePath = POD_TEMPLATE_PATH[kind];
    if (templatePath === undefined) return;
    const template = templatePath.reduce<unknown>((node, key) => (isRecord(node) ? node[key] : undefined), obj);
    const problem = podShapeProblem(template);
    if (problem !== undefined) throw new ManifestError(`${label}: its Pod template ${problem}`);
    const namespace = typeof meta.namespace === 'string' ? meta.namespace : undefined;
    // Every workload in the file is injected unless its Pod template opts out.
    const plan = planInjection(template as PodLike, settings, { namespace, namespaceOptedIn: true, claimTemplates: claimTemplateNames(obj) });
    if (plan.kind === 'refuse') throw new ManifestError(`${label}: ${plan.message}`);
    warnings.push(...plan.warnings.map((w) => `${label}: ${w}`));
    if (plan.kind === 'skip') {
      report.push(`${label}: unchanged (${plan.reason})`);
      return;
    }
    applyToDocument(doc, templatePath, plan.patch);
    report.push(`${label}: sidecar added`);
  });
  return { yaml: docs.map((d) => d.toString()).join(''), report, warnings };
}

/** The injector's `add` operations, applied under `base` in a YAML document. */
function applyToDocument(doc: Document.Parsed, base: readonly string[], patch: readonly JsonPatchOperation[]): void {
  for (const op of patch) {
    const path = [...base, ...parsePointer(op.path)];
    const last = path[path.length - 1]!;
    const parentPath = path.slice(0, -1);
    const parent = parentPath.length === 0 ? doc.contents : doc.getIn(parentPath, true);
    const value = doc.createNode(op.value) as Node;
    unflow(doc, parentPath);
    if (isSeq(parent)) {
      if (last !== '-') throw new Error(`internal: array insert at ${op.path} is not supported`);
      parent.add(value);
    } else if (isMap(parent)) {
      parent.set(last, value);
    } else {
      throw new Error(`internal: ${parentPath.join('.')} is not a map or a list`);
    }
  }
}

/**
 * A block-style container cannot sit inside a flow one (`{ a: 1 }`), so the
 * collections on the way to an insertion are printed in block style.
 */
function unflow(doc: Document.Parsed, path: readonly string[]): void {
  for (let i = 0; i <= path.length; i++) {
    const node = i === 0 ? doc.contents : doc.getIn(path.slice(0, i), true);
    if (isCollection(node)) node.flow = false;
  }
}

function claimTemplateNames(workload: Record<string, unknown>): Set<string> {
  const spec = isRecord(workload.spec) ? workload.spec : {};
  const templates = Array.isArray(spec.volumeClaimTemplates) ? spec.volumeClaimTemplates : [];
  const out = new Set<string>();
  for (const t of templates) if (isRecord(t) && isRecord(t.metadata) && typeof t.metadata.name === 'string') out.add(t.metadata.name);
  return out;
}
