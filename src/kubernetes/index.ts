// The Kubernetes room: admission review → JSON Patch, manifest injection,
// the webhook server with certificate reload. It knows nothing about
// decisions, and the decision rooms know nothing about it.
export { ANNOTATIONS, ANNOTATION_HELP, INJECT_NAMESPACE_LABEL } from './annotations.js';
export { answerReview, MalformedReviewError, type AdmissionReviewResponse } from './admission-review.js';
export { injectManifests, ManifestError } from './manifest-injection.js';
export { planInjection, type InjectionPlan } from './pod-injection.js';
export { defaultInjectorSettings, loadInjectorSettings, parseInjectorSettings, type InjectorSettings } from './settings.js';
export { startWebhook, type RunningWebhook, type WebhookOptions } from './webhook-server.js';
export { InjectArgsError, INJECT_USAGE, injectFileCommand, injectServeCommand } from './cli.js';
