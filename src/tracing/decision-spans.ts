// One span per sampled decision, made after the decision from what it
// recorded: its start (now minus its duration), its stage timings, its
// reason. The parent is the request's W3C `traceparent` or Envoy's B3
// headers (`x-b3-traceid`/`x-b3-spanid`/`x-b3-sampled` or a single `b3`),
// so the span sits under Envoy's in the same trace.
//
// Sampling is parent-based: a parent's sampled flag decides (the SDK's
// ParentBasedSampler). A decision without a parent — most, when Envoy does not
// trace — is sampled here, by one Math.random() against sample_ratio, before
// the SDK is touched at all: an unsampled root decision costs three property
// reads and a random number, no id generation, no span object.
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  defaultTextMapGetter,
  trace,
  type Attributes,
  type TextMapPropagator,
  type Tracer,
} from '@opentelemetry/api';
import { CompositePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { B3Propagator } from '@opentelemetry/propagator-b3';
import type { AuthzRequest, Decision } from '../decision/types.js';
import type { TracingConfig } from './config.js';

export const DECISION_SPAN_NAME = 'authz.decision';

export class DecisionSpans {
  // B3 first: when a request carries both, the W3C context (extracted last) wins.
  private readonly propagator: TextMapPropagator = new CompositePropagator({
    propagators: [new B3Propagator(), new W3CTraceContextPropagator()],
  });

  /**
   * @param tracer its sampler must sample every root (ParentBased with
   * AlwaysOn): roots are sampled here, at `rootRatio`.
   */
  constructor(
    private readonly tracer: Tracer,
    private readonly rootRatio: number,
    private readonly attributes: TracingConfig['attributes'],
  ) {}

  record(decision: Decision, req: AuthzRequest): void {
    const h = req.headers;
    let parent = ROOT_CONTEXT;
    if (h.traceparent !== undefined || h.b3 !== undefined || h['x-b3-traceid'] !== undefined) {
      parent = this.propagator.extract(ROOT_CONTEXT, h, defaultTextMapGetter);
    }
    if (parent === ROOT_CONTEXT || trace.getSpanContext(parent) === undefined) {
      if (!(Math.random() < this.rootRatio)) return;
      parent = ROOT_CONTEXT;
    }
    const end = performance.now();
    const span = this.tracer.startSpan(DECISION_SPAN_NAME, { kind: SpanKind.SERVER, startTime: end - decision.durationSeconds * 1000 }, parent);
    if (!span.isRecording()) return;
    span.setAttributes(this.attributesOf(decision, req));
    if (decision.status === 503) span.setStatus({ code: SpanStatusCode.ERROR, message: decision.reason });
    span.end(end);
  }

  private attributesOf(decision: Decision, req: AuthzRequest): Attributes {
    const a: Attributes = {
      'authz.decision_id': decision.decisionId,
      'authz.allowed': decision.allowed,
      'authz.reason': decision.reason,
      'authz.stage': decision.stage,
      'authz.status_code': decision.status,
      'authz.mode': decision.mode,
      'authz.transport': req.transport,
      'http.request.method': req.method,
      'url.path': req.path,
    };
    if (decision.route !== undefined) a['authz.route'] = decision.route;
    if (decision.action !== undefined) a['authz.action'] = decision.action;
    if (decision.wouldDeny !== undefined) a['authz.would_deny.reason'] = decision.wouldDeny.reason;
    const tenant = decision.resource?.tenant ?? decision.principal?.tenant;
    if (this.attributes.tenant && tenant !== undefined) a['authz.tenant'] = tenant;
    if (this.attributes.principal && decision.principal !== undefined) a['enduser.id'] = decision.principal.id;
    const timings = decision.stageTimings;
    if (timings !== undefined) {
      for (const t of timings) a[`authz.stage_ms.${t.stage}`] = Math.round(t.ms * 1000) / 1000;
      a['authz.stages'] = timings.map((t) => t.stage);
    }
    return a;
  }
}
