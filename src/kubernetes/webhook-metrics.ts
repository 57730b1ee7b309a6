// The injector's own metrics (its Deployment has a /metrics of its own; it
// shares nothing with a sidecar's registry).
import { Counter, Registry } from 'prom-client';
import { registerDefaultMetrics } from '../observability/metrics.js';
import type { ReviewOutcome } from './admission-review.js';

export type WebhookOutcome = ReviewOutcome | 'bad_request';

export class WebhookMetrics {
  readonly registry = new Registry();
  private readonly reviews = new Counter({
    name: 'authz_injector_reviews_total',
    help: 'AdmissionReviews answered, by outcome (injected, skipped, refused, bad_request).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly certificateReloads = new Counter({
    name: 'authz_injector_certificate_reloads_total',
    help: 'Serving certificate reloads by outcome (success; failure: the previous certificate keeps serving).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  constructor(defaultMetrics = true) {
    if (defaultMetrics) registerDefaultMetrics(this.registry);
  }

  count(outcome: WebhookOutcome): void {
    this.reviews.inc({ outcome });
  }
}
