// Builds an identity service the way the sidecar does (config through the
// schema, real files, real metrics registry) and requests that carry
// credentials, so the tests read as the situation they set up.
import type { Test } from 'tap';
import { identitySchema } from '../../src/config/schema.js';
import type { IdentityResult } from '../../src/decision/interfaces.js';
import type { AuthzRequest } from '../../src/decision/types.js';
import { createIdentityService, type IdentityService } from '../../src/identity/index.js';
import { createLogger } from '../../src/observability/logger.js';
import { SidecarMetrics } from '../../src/observability/metrics.js';
import { authzRequest } from '../support/principals.js';

export const ISSUER = 'https://issuer.test';
export const AUDIENCE = 'orders-api';

export interface ServiceFixture {
  service: IdentityService;
  metrics: SidecarMetrics;
  identify(req: AuthzRequest): Promise<IdentityResult>;
  /** Sum of a counter's values, optionally only those with the given labels. */
  counter(name: string, labels?: Record<string, string>): Promise<number>;
}

export function makeService(
  t: Test,
  identity: Record<string, unknown>,
  opts: { baseDir?: string; clock?: () => number } = {},
): ServiceFixture {
  const config = identitySchema.parse(identity);
  const metrics = new SidecarMetrics({ defaultMetrics: false });
  const service = createIdentityService(config, {
    log: createLogger('silent'),
    metrics,
    baseDir: opts.baseDir ?? process.cwd(),
    clock: opts.clock,
  });
  t.teardown(() => service.close());
  return {
    service,
    metrics,
    identify: async (req) => service.identify(req),
    counter: async (name, labels = {}) => {
      const metric = metrics.registry.getSingleMetric(name);
      if (metric === undefined) return 0;
      const { values } = await metric.get();
      return values
        .filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))
        .reduce((sum, v) => sum + v.value, 0);
    },
  };
}

/** A request with these headers, each listed once in headerList (as a transport would). */
export function withHeaders(headers: Record<string, string>, extra: Partial<AuthzRequest> = {}): AuthzRequest {
  return authzRequest({ headers, headerList: Object.entries(headers), ...extra });
}

export function bearer(token: string): AuthzRequest {
  return withHeaders({ authorization: `Bearer ${token}` });
}

/** Waits until `check` is true; the bound is generous, it is not a timing assertion. */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, limitMs = 15_000): Promise<void> {
  const until = Date.now() + limitMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`gave up waiting for: ${what}`);
}

export function reasonOf(result: IdentityResult): string {
  return result.kind === 'invalid' ? result.reason : result.kind;
}
