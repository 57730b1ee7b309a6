// Fixtures for the audit tests: decisions and requests as the authorizer
// makes them, capability deps, and polling helpers (tests wait on outcomes, never on timing).
import type { CapabilityDeps } from '../../src/decision/capability.js';
import type { AuthzRequest, Decision, EnforcementMode } from '../../src/decision/types.js';
import { createLogger } from '../../src/observability/logger.js';
import { SidecarMetrics } from '../../src/observability/metrics.js';
import type { TestKafkaBroker } from '../support/kafka-broker/index.js';

export interface DecisionSpec {
  readonly id: string;
  readonly tenant?: string;
  readonly allowed?: boolean;
  readonly status?: 200 | 401 | 403 | 429 | 503;
  readonly reason?: string;
  readonly stage?: string;
  readonly mode?: EnforcementMode;
  readonly wouldDeny?: Decision['wouldDeny'];
  readonly action?: string;
  readonly annotations?: Record<string, unknown>;
}

export function decision(spec: DecisionSpec): Decision {
  const allowed = spec.allowed ?? true;
  const tenant = spec.tenant ?? 'acme';
  return {
    decisionId: spec.id,
    allowed,
    status: spec.status ?? (allowed ? 200 : 403),
    reason: spec.reason ?? (allowed ? 'allowed' : 'rbac_denied'),
    stage: spec.stage ?? (allowed ? 'engine' : 'rbac'),
    mode: spec.mode ?? 'deny',
    wouldDeny: spec.wouldDeny,
    upstreamHeaders: {},
    responseHeaders: {},
    principal: { id: `user-of-${tenant}`, kind: 'user', tenant, roles: ['dev'], claims: { sub: 'x' }, source: 'jwt' },
    action: spec.action ?? 'read',
    resource: { type: 'project', id: 'p1', tenant },
    route: 'read-project',
    annotations: spec.annotations ?? {},
    durationSeconds: 0.000321,
  };
}

export function request(overrides: Partial<AuthzRequest> = {}): AuthzRequest {
  return {
    requestId: 'req-1',
    method: 'GET',
    path: '/api/v1/tenants/acme/projects/p1',
    rawPath: '/api/v1/tenants/acme/projects/p1',
    query: { access_token: 'secret-in-query' },
    host: 'orders',
    scheme: 'https',
    protocol: 'HTTP/1.1',
    headers: {
      authorization: 'Bearer super-secret-token',
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    },
    headerList: [],
    source: { address: '10.1.2.3', port: 5555, principal: undefined, labels: {} },
    destination: { address: undefined, port: undefined, principal: undefined, labels: {} },
    contextExtensions: {},
    filterMetadata: {},
    transport: 'grpc',
    ...overrides,
  };
}

export function deps(baseDir: string): CapabilityDeps & { metrics: SidecarMetrics } {
  return { log: createLogger('silent'), metrics: new SidecarMetrics({ defaultMetrics: false }), baseDir };
}

export async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Distinct decision ids the broker holds on a topic (duplicates from at-least-once retries collapse). */
export function deliveredIds(broker: TestKafkaBroker, topic: string): Set<string> {
  return new Set(broker.recordsFor(topic).map((r) => r.headers.ce_id as string));
}

export async function metricValue(d: { metrics: SidecarMetrics }, name: string, labels: Record<string, string> = {}): Promise<number> {
  const all = await d.metrics.registry.getMetricsAsJSON();
  const m = all.find((x) => x.name === name);
  if (!m) return 0;
  let total = 0;
  for (const v of m.values as Array<{ value: number; labels: Record<string, unknown> }>) {
    if (Object.entries(labels).every(([k, val]) => v.labels[k] === val)) total += v.value;
  }
  return total;
}
