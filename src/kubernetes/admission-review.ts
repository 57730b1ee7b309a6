// admission.k8s.io/v1 AdmissionReview in, AdmissionReview out. A review that
// is not shaped as the API server sends it is a MalformedReviewError (the
// server answers HTTP 400); anything well-formed is answered, allowed unless
// an annotation is invalid, with a JSONPatch when the sidecar is added.
import { z } from 'zod';
import { planInjection, type InjectionPlan } from './pod-injection.js';
import { podShapeProblem, type PodLike } from './pod-shape.js';
import type { InjectorSettings } from './settings.js';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

const groupVersionKind = z.object({ group: z.string(), version: z.string(), kind: z.string() });

const reviewSchema = z.object({
  apiVersion: z.literal(ADMISSION_API_VERSION),
  kind: z.literal('AdmissionReview'),
  request: z.looseObject({
    uid: z.string().min(1),
    kind: groupVersionKind,
    resource: z.object({ group: z.string(), version: z.string(), resource: z.string() }),
    subResource: z.string().optional(),
    operation: z.enum(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']),
    namespace: z.string().optional(),
    name: z.string().optional(),
    object: z.unknown().optional(),
    dryRun: z.boolean().optional(),
  }),
});

export class MalformedReviewError extends Error {
  override readonly name = 'MalformedReviewError';
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  /** base64 of the JSON Patch document. */
  patch?: string;
  warnings?: string[];
  status?: { code: number; message: string; reason?: string };
}

export interface AdmissionReviewResponse {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

export type ReviewOutcome = 'injected' | 'skipped' | 'refused';

export interface ReviewAnswer {
  readonly review: AdmissionReviewResponse;
  readonly outcome: ReviewOutcome;
  /** Why no patch, or why refused; for the log. */
  readonly detail: string;
}

/** Kubernetes truncates long warnings; keep each one readable. */
const MAX_WARNING_CHARS = 256;

export function parseReview(body: unknown): z.infer<typeof reviewSchema> {
  const parsed = reviewSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new MalformedReviewError(`not an ${ADMISSION_API_VERSION} AdmissionReview request: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return parsed.data;
}

export function answerReview(body: unknown, settings: InjectorSettings, namespaceOptedIn: boolean): ReviewAnswer {
  const { request } = parseReview(body);
  const { kind } = request;
  const isPod = kind.group === '' && kind.version === 'v1' && kind.kind === 'Pod' && request.subResource === undefined;
  if (!isPod || request.operation !== 'CREATE') {
    return answer(request.uid, 'skipped', `not a Pod CREATE (${kind.kind} ${request.operation}${request.subResource ? ` ${request.subResource}` : ''})`);
  }
  const problem = podShapeProblem(request.object);
  if (problem !== undefined) throw new MalformedReviewError(`request.object is not a Pod: it ${problem}`);
  const pod = request.object as PodLike;
  // A dry run gets exactly the answer a real request would: the injector has no side effects.
  const plan = planInjection(pod, settings, { namespace: request.namespace ?? pod.metadata?.namespace, namespaceOptedIn });
  return fromPlan(request.uid, plan);
}

function fromPlan(uid: string, plan: InjectionPlan): ReviewAnswer {
  switch (plan.kind) {
    case 'skip':
      return answer(uid, 'skipped', plan.reason, plan.warnings);
    case 'refuse':
      return {
        outcome: 'refused',
        detail: plan.message,
        review: envelope({ uid, allowed: false, status: { code: 400, reason: 'BadRequest', message: plan.message } }),
      };
    case 'inject':
      return {
        outcome: 'injected',
        detail: `${plan.patch.length} patch operations`,
        review: envelope({
          uid,
          allowed: true,
          patchType: 'JSONPatch',
          patch: Buffer.from(JSON.stringify(plan.patch)).toString('base64'),
          ...warningsField(plan.warnings),
        }),
      };
  }
}

function answer(uid: string, outcome: ReviewOutcome, detail: string, warnings: string[] = []): ReviewAnswer {
  return { outcome, detail, review: envelope({ uid, allowed: true, ...warningsField(warnings) }) };
}

function warningsField(warnings: string[]): { warnings?: string[] } {
  if (warnings.length === 0) return {};
  return { warnings: warnings.map((w) => (w.length > MAX_WARNING_CHARS ? `${w.slice(0, MAX_WARNING_CHARS - 1)}…` : w)) };
}

function envelope(response: AdmissionResponse): AdmissionReviewResponse {
  return { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response };
}
