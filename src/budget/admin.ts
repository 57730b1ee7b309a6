// The budget admin API, mounted on the admin port, behind a bearer token:
//   GET  /budget/tenants/:t[?principal=p]  usage of every budget in its current window
//   PUT  /budget/tenants/:t/limits         replace the tenant's limits (JSON, same shape as config)
//   POST /budget/tenants/:t/reset          forget the tenant's counters
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tenantLimitsSchema } from './config.js';
import type { BudgetCore } from './core.js';
import { checkMergedLimits } from './limits-check.js';
import { meterKey, mergeLimits } from './plan.js';
import { fromMicro } from './units.js';
import { parseSection } from '../config/parse-section.js';

export interface BudgetAdmin {
  /** True when the path is the budget API's (the response is then handled, possibly asynchronously). */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
}

const MAX_BODY = 64 * 1024;
const TENANT_PATH = /^\/budget\/tenants\/([^/]+)(?:\/(limits|reset))?\/?$/;

export function createBudgetAdmin(core: BudgetCore, token: () => string | undefined): BudgetAdmin {
  return {
    handle(req, res) {
      const url = new URL(req.url ?? '/', 'http://admin');
      if (url.pathname !== '/budget' && !url.pathname.startsWith('/budget/')) return false;
      const expected = token();
      if (expected === undefined) {
        json(res, 403, { error: 'budget admin API disabled: set budget.admin.token or budget.admin.token_env' });
        return true;
      }
      if (!bearerMatches(req.headers.authorization, expected)) {
        res.setHeader('www-authenticate', 'Bearer realm="budget"');
        json(res, 401, { error: 'missing or wrong bearer token' });
        return true;
      }
      const m = TENANT_PATH.exec(url.pathname);
      let tenant: string | undefined;
      try {
        tenant = m === null ? undefined : decodeURIComponent(m[1]!);
      } catch {
        tenant = undefined;
      }
      if (m === null || tenant === undefined || tenant === '') {
        json(res, 404, { error: 'not found' });
        return true;
      }
      const action = m[2];
      const route = `${req.method ?? 'GET'} ${action ?? 'usage'}`;
      let work: Promise<void>;
      switch (route) {
        case 'GET usage':
          work = usage(core, tenant, url.searchParams.get('principal') ?? undefined, res);
          break;
        case 'PUT limits':
          work = setLimits(core, tenant, req, res);
          break;
        case 'POST reset':
          work = reset(core, tenant, res);
          break;
        default:
          res.setHeader('allow', action === undefined ? 'GET' : action === 'limits' ? 'PUT' : 'POST');
          json(res, 405, { error: 'method not allowed' });
          return true;
      }
      work.catch((err: unknown) => {
        core.log.warn({ error: (err as Error).message, route }, 'budget admin request failed');
        if (!res.headersSent) json(res, 503, { error: 'budget store unavailable', reason: 'budget_unavailable' });
      });
      return true;
    },
  };
}

async function usage(core: BudgetCore, tenant: string, principal: string | undefined, res: ServerResponse): Promise<void> {
  const limits = core.plans.limitsOf(tenant);
  if (limits === undefined) return json(res, 404, { error: `unknown tenant ${tenant} (and no budget.defaults)` });
  const now = core.clock();
  const specs = core.plans.allSpecs(tenant).filter((s) => !s.perPrincipal || principal !== undefined);
  const windows = specs.map((s) => core.windows.at(s.window, now));
  const used = await core.backend.read(specs.map((s, i) => meterKey(tenant, s, principal ?? '', windows[i]!)), now);
  const budgets: Record<string, unknown> = {};
  specs.forEach((s, i) => {
    const show = (v: number) => (s.cost ? fromMicro(v) : v);
    budgets[s.budget] = {
      limit: show(s.limit),
      used: show(used[i]!),
      remaining: show(Math.max(0, s.limit - used[i]!)),
      window_start: new Date(windows[i]!.start).toISOString(),
      resets_at: new Date(windows[i]!.end).toISOString(),
    };
  });
  json(res, 200, {
    tenant,
    configured: core.plans.isConfigured(tenant),
    backend: core.backend.name,
    ...(principal !== undefined ? { principal } : {}),
    limits,
    budgets,
  });
}

async function setLimits(core: BudgetCore, tenant: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let body: unknown;
  try {
    body = JSON.parse(await readBody(req));
  } catch (err) {
    return json(res, 400, { error: `body must be JSON tenant limits: ${(err as Error).message}` });
  }
  try {
    const limits = parseSection(tenantLimitsSchema, body, 'limits');
    checkMergedLimits(mergeLimits(core.config.defaults, limits), 'limits (with budget.defaults)');
    core.plans.setLimits(tenant, limits);
  } catch (err) {
    return json(res, 400, { error: (err as Error).message });
  }
  core.log.info({ tenant }, 'budget limits set through the admin API');
  json(res, 200, { tenant, limits: core.plans.limitsOf(tenant) });
}

async function reset(core: BudgetCore, tenant: string, res: ServerResponse): Promise<void> {
  await core.backend.reset(tenant);
  core.log.info({ tenant }, 'budget counters reset through the admin API');
  json(res, 200, { tenant, reset: true });
}

function bearerMatches(header: string | undefined, expected: string): boolean {
  if (header === undefined || !header.startsWith('Bearer ')) return false;
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(header.slice(7).trim()), digest(expected));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error(`larger than ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
